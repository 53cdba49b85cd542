"""What a Job, CronJob or Argo workflow gains at CREATE (webhook.workloads), as tables of sentences.

Every row goes through `tests/retries.py` `reviewed()`: the patch applies with the real kubectl,
the result is accepted by kube-apiserver's rules (or the Argo CRD schema), keeps what its author
wrote, and a second review adds nothing. The shipped set sends CPU batch pods to the spot pool
`job`, GPU ones to `g1`, everything nobody configured to `default` (spot), notebooks, data
stores and pods marked safe-to-evict=false to `ondemand`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.pods import shipped
from tests.retries import reviewed
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.policy.load import parse_policy_set
from webhook.workloads import review_workload

Doc = dict[str, Any]
RULE = {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
STRATEGY = {"limit": 5, "retryPolicy": "OnError", "backoff": {"duration": "5m"}}


# --- builders ------------------------------------------------------------------------------


def container(resources: Doc | None = None, name: str = "main") -> Doc:
    out: Doc = {"name": name, "image": "registry.example.com/app:1"}
    if resources is not None:
        out["resources"] = resources
    return out


GPU = {"limits": {"nvidia.com/gpu": "1"}}


def job(
    restart: str = "Never",
    template_meta: Doc | None = None,
    pod: Doc | None = None,
    **spec: Any,
) -> Doc:
    pod_spec = {"restartPolicy": restart, "containers": [container()], **(pod or {})}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "report", "namespace": "batch"},
        "spec": {
            "podReplacementPolicy": "TerminatingOrFailed",
            "template": {"metadata": template_meta or {}, "spec": pod_spec},
            **spec,
        },
    }


def cronjob(restart: str = "Never", **spec: Any) -> Doc:
    inner = job(restart, **spec)["spec"]
    del inner["podReplacementPolicy"]  # a Job template is not defaulted as a Job
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "batch"},
        "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": inner}},
    }


def workflow(*templates: Doc, kind: str = "Workflow", **spec: Any) -> Doc:
    body = {"entrypoint": "main", "templates": list(templates) or [step()], **spec}
    out: Doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"generateName": "etl-", "namespace": "ml"},
    }
    if kind == "CronWorkflow":
        out["metadata"] = {"name": "etl", "namespace": "ml"}
        out["spec"] = {"schedules": ["0 * * * *"], "workflowSpec": body}
    else:
        out["spec"] = body
    return out


def step(name: str = "main", resources: Doc | None = None, **more: Any) -> Doc:
    return {"name": name, "container": {"image": "registry.example.com/step:1", **(
        {"resources": resources} if resources else {})}, **more}  # fmt: skip


def dag(name: str, *tasks: str) -> Doc:
    return {"name": name, "dag": {"tasks": [{"name": t, "template": t} for t in tasks]}}


# --- Jobs ----------------------------------------------------------------------------------


def spec_of(obj: Doc) -> Doc:
    spec: Doc = obj["spec"]
    return spec["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else spec


def rules_of(obj: Doc) -> list[Any]:
    return list(spec_of(obj).get("podFailurePolicy", {}).get("rules", []))


Check = Callable[[Doc], None]

JOBS: dict[str, tuple[Doc, list[Any] | None, str | None]] = {
    # name: (object, its podFailurePolicy rules after, the refusal reason)
    "a CPU Job on the spot job group gains the rule": (job(), [RULE], None),
    "a GPU Job on the spot GPU group gains the rule": (
        job(pod={"containers": [container(GPU)]}),
        [RULE],
        None,
    ),
    "the Job's own rules stay first": (
        job(
            podReplacementPolicy="Failed",
            podFailurePolicy={
                "rules": [
                    {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
                ]
            },
        ),
        [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}, RULE],
        None,
    ),
    "a Job ignoring disruptions already is left as it is": (
        job(podReplacementPolicy="Failed", podFailurePolicy={"rules": [RULE]}),
        [RULE],
        None,
    ),
    "a Job failing on disruption by its own rule keeps that choice": (
        job(
            podReplacementPolicy="Failed",
            podFailurePolicy={
                "rules": [
                    {"action": "FailJob", "onPodConditions": [dict(RULE["onPodConditions"][0])]}
                ]
            },
        ),
        [{"action": "FailJob", "onPodConditions": [dict(RULE["onPodConditions"][0])]}],
        None,
    ),
    "a Job whose pods restart OnFailure gets no rule": (job("OnFailure"), [], "restart-policy"),
    "a Job with twenty rules gets no twenty-first": (
        job(
            podReplacementPolicy="Failed",
            podFailurePolicy={
                "rules": [
                    {"action": "Count", "onExitCodes": {"operator": "In", "values": [i]}}
                    for i in range(1, 21)
                ]
            },
        ),
        [
            {"action": "Count", "onExitCodes": {"operator": "In", "values": [i]}}
            for i in range(1, 21)
        ],
        "rule-limit",
    ),
    "a Job marked safe-to-evict=false runs on demand: no rule": (
        job(
            template_meta={
                "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
            }
        ),
        [],
        None,
    ),
    "a Job pinned to the on-demand pool by its author: no rule": (
        job(pod={"nodeSelector": {"ng-name": "ondemand"}}),
        [],
        None,
    ),
    "a Job of a JobSet is left to JobSet's own failure handling": (
        job(template_meta={"labels": {"jobset.sigs.k8s.io/jobset-name": "trainer"}}),
        [],
        None,
    ),
    "a CronJob's Job template gains the rule": (cronjob(), [RULE], None),
    "a CronJob whose pods restart OnFailure gets no rule": (
        cronjob("OnFailure"),
        [],
        "restart-policy",
    ),
    "a Job with no pod template is left to the apiserver to refuse": (
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, "spec": {}},
        None,
        None,
    ),
}


@pytest.mark.parametrize(("obj", "rules", "refused"), list(JOBS.values()), ids=list(JOBS))
def test_jobs(obj: Doc, rules: list[Any] | None, refused: str | None) -> None:
    if rules is None:  # not a Job the apiserver accepts: nothing to validate after
        result = review_workload(shipped(), obj, "batch")
        assert result.ops == [] and result.judged == []
        return
    result, after = reviewed(shipped(), obj, "batch")
    assert rules_of(after) == rules
    assert result.refused == refused
    if refused is not None:
        assert result.policy == "spot-retries" and len(result.warnings) == 1
        assert after == obj
    if result.ops:
        assert spec_of(after).get("podReplacementPolicy", "Failed") == "Failed"
        assert after["metadata"]["annotations"]["pod-placement-webhook/policies"] == "spot-retries"


def test_the_refusal_says_what_to_do() -> None:
    result = review_workload(shipped(), cronjob("OnFailure"), "batch")
    assert result.warnings == [
        "retry policy spot-retries: no podFailurePolicy rule for spot evictions added to CronJob "
        "nightly: its pods restart OnFailure, and kube-apiserver accepts a podFailurePolicy only "
        "with restartPolicy Never (set it to have evicted pods replaced without counting "
        "against backoffLimit)"
    ]


def test_a_job_that_already_says_failed_keeps_its_replacement_policy() -> None:
    result, after = reviewed(shipped(), job(podReplacementPolicy="Failed"), "batch")
    assert "podReplacementPolicy" not in result.added
    assert after["spec"]["podReplacementPolicy"] == "Failed"


def test_a_job_the_apiserver_did_not_default_gets_no_replacement_policy() -> None:
    """`mutate` on a manifest: kube-apiserver's defaulting after the patch sets Failed."""
    bare = job()
    del bare["spec"]["podReplacementPolicy"]
    result, after = reviewed(shipped(), bare, "batch")
    assert result.added == {"podFailurePolicy.rules": [RULE]}
    assert "podReplacementPolicy" not in after["spec"]


# --- workflows -----------------------------------------------------------------------------


def strategy_of(obj: Doc) -> Any:
    spec = obj["spec"]["workflowSpec"] if obj["kind"] == "CronWorkflow" else obj["spec"]
    return spec.get("templateDefaults", {}).get("retryStrategy")


OWN = {"limit": "2"}
WORKFLOWS: dict[str, tuple[Doc, Any]] = {
    # name: (object, its templateDefaults.retryStrategy after)
    "an Argo workflow whose step goes to spot gains the defaults": (workflow(), STRATEGY),
    "a GPU step goes to the spot GPU group: the defaults": (
        workflow(dag("main", "train"), step("train", GPU)),
        STRATEGY,
    ),
    "a CronWorkflow's workflowSpec gains them": (workflow(kind="CronWorkflow"), STRATEGY),
    "a WorkflowTemplate gains them": (workflow(kind="WorkflowTemplate"), STRATEGY),
    "a workflow with its own templateDefaults.retryStrategy keeps it": (
        workflow(templateDefaults={"retryStrategy": OWN}),
        OWN,
    ),
    "a workflow with its own spec.retryStrategy gets none (it would lose it)": (
        workflow(retryStrategy=OWN),
        None,
    ),
    "a Workflow that runs a WorkflowTemplate gets none": (
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": "run-", "namespace": "ml"},
            "spec": {"workflowTemplateRef": {"name": "etl"}},
        },
        None,
    ),
    "a step's own retryStrategy is kept beside the defaults": (
        workflow(step(retryStrategy={"limit": 10})),
        STRATEGY,
    ),
    "other templateDefaults are kept": (
        workflow(templateDefaults={"timeout": "30s"}),
        STRATEGY,
    ),
    "a workflow whose only step is pinned to on-demand gets none": (
        workflow(step(nodeSelector={"ng-name": "ondemand"})),
        None,
    ),
    "templateDefaults pin every step to on-demand: none": (
        workflow(templateDefaults={"nodeSelector": {"ng-name": "ondemand"}}),
        None,
    ),
    "the workflow's own nodeSelector pins its steps: none": (
        workflow(nodeSelector={"ng-name": "ondemand"}),
        None,
    ),
    "one step on-demand, another on spot: the defaults": (
        workflow(dag("main", "a", "b"), step("a", nodeSelector={"ng-name": "ondemand"}), step("b")),
        STRATEGY,
    ),
    "an inline template of a DAG task counts": (
        workflow(
            {"name": "main", "dag": {"tasks": [{"name": "t", "inline": step("x")}]}},
            templateDefaults={"nodeSelector": {"ng-name": "ondemand"}},
            podMetadata={"labels": {"team": "data"}},
        ),
        None,
    ),
    "steps that all refer to another WorkflowTemplate: judged on the workflow's settings": (
        workflow(
            {
                "name": "main",
                "steps": [[{"name": "s", "templateRef": {"name": "lib", "template": "t"}}]],
            }
        ),
        STRATEGY,
    ),
    "a workflow marked safe-to-evict=false on every pod: none": (
        workflow(
            podMetadata={"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}}
        ),
        None,
    ),
}


@pytest.mark.parametrize(("obj", "strategy"), list(WORKFLOWS.values()), ids=list(WORKFLOWS))
def test_workflows(obj: Doc, strategy: Any) -> None:
    result, after = reviewed(shipped(), obj, "ml")
    assert strategy_of(after) == strategy
    assert result.refused is None and result.warnings == []
    if result.ops:
        assert result.added == {"templateDefaults.retryStrategy": STRATEGY}


def test_a_steps_own_retry_strategy_is_untouched() -> None:
    mine = workflow(step(retryStrategy={"limit": 10}))
    _, after = reviewed(shipped(), mine, "ml")
    assert after["spec"]["templates"][0]["retryStrategy"] == {"limit": 10}


def test_the_first_template_that_goes_to_spot_decides_and_the_rest_are_not_judged() -> None:
    many = workflow(*(step(f"s{i}") for i in range(50)))
    result = review_workload(shipped(), many, "ml")
    assert [j.template for j in result.judged] == ["s0"]


# --- which policy ----------------------------------------------------------------------------

POOLS = """\
apiVersion: pod-placement-webhook/v1
kind: NodePool
metadata: {name: spot}
spec: {capacityType: spot, nodeLabels: {pool: spot}}
---
apiVersion: pod-placement-webhook/v1
kind: NodePool
metadata: {name: steady}
spec:
  capacityType: on-demand
  nodeLabels: {pool: steady}
  nodeTaints: [{key: steady, effect: NoSchedule}]
"""


def retry_policy(name: str, order: int, body: str) -> str:
    head = "---\napiVersion: pod-placement-webhook/v1\nkind: RetryPolicy\n"
    return head + f"metadata: {{name: {name}}}\nspec:\n  order: {order}\n{body}"


def policy_set(text: str) -> CompiledPolicySet:
    return compile_policy_set(parse_policy_set([("set.yaml", text.encode())]))


def a_set(*policies: str) -> CompiledPolicySet:
    return policy_set(POOLS + "".join(policies))


def test_the_first_policy_in_order_that_matches_decides() -> None:
    compiled = a_set(
        retry_policy("late", 20, "  workflows: {limit: 9}\n  jobs: {}\n"),
        retry_policy("early", 10, "  match: {namespaces: [ml]}\n  workflows: {limit: 1}\n"),
    )
    assert reviewed(compiled, workflow(), "ml")[0].policy == "early"
    assert reviewed(compiled, workflow(), "etl")[0].policy == "late"
    assert reviewed(compiled, job(), "ml")[0].policy == "late"  # early gives no Job retries


def test_an_exclude_holds() -> None:
    compiled = a_set(
        retry_policy(
            "all", 10, "  exclude: [{podSelector: {matchLabels: {tier: x}}}]\n  jobs: {}\n"
        )
    )
    assert reviewed(compiled, job(), "batch")[0].policy == "all"
    marked = job(template_meta={"labels": {"tier": "x"}})
    assert reviewed(compiled, marked, "batch")[0].policy is None


def test_a_pod_that_can_land_on_spot_and_on_demand_goes_to_spot() -> None:
    """No placement policy: an untainted spot pool and a tainted on-demand one; a pod tolerating
    the taint can run on both, so an eviction can end it."""
    compiled = a_set(retry_policy("all", 10, "  jobs: {}\n"))
    tolerant = job(pod={"tolerations": [{"key": "steady", "operator": "Exists"}]})
    result, _ = reviewed(compiled, tolerant, "batch")
    assert [p.name for p in result.judged[0].placement.pools] == ["spot", "steady"]
    assert result.policy == "all"
    pinned = job(pod={"nodeSelector": {"pool": "steady"}, "tolerations": tolerant["spec"][
        "template"]["spec"]["tolerations"]})  # fmt: skip
    assert reviewed(compiled, pinned, "batch")[0].policy is None


def test_a_set_without_retry_policies_adds_nothing() -> None:
    compiled = policy_set(POOLS)
    result = review_workload(compiled, job(), "batch")
    assert result.ops == [] and result.judged == []  # no pod is even built


def test_the_provenance_annotation_goes_after_the_names_already_there() -> None:
    named = job()
    named["metadata"]["annotations"] = {"pod-placement-webhook/policies": "earlier"}
    result, after = reviewed(shipped(), named, "batch")
    assert after["metadata"]["annotations"]["pod-placement-webhook/policies"] == (
        "earlier,spot-retries"
    )
    assert result.provenance == ["earlier", "spot-retries"]


# --- objects of the wrong shape ------------------------------------------------------------


MALFORMED: dict[str, Doc] = {
    "a podFailurePolicy that is a string": job(podFailurePolicy="ignore"),
    "rules that are a map": job(podFailurePolicy={"rules": {"a": 1}}),
    "templateDefaults that are a list": workflow(templateDefaults=[1]),
}


@pytest.mark.parametrize("obj", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_object_is_admitted_unchanged_with_a_warning(obj: Doc) -> None:
    result = review_workload(shipped(), obj, "batch")
    assert result.ops == [] and result.refused == "invalid"
    assert len(result.warnings) == 1


def test_an_object_of_another_kind_or_version_is_not_reviewed() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    assert review_workload(shipped(), deployment, "ml").ops == []
    old = {**job(), "apiVersion": "batch/v1beta1"}
    assert review_workload(shipped(), old, "ml").ops == []
