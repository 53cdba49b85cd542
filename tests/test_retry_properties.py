"""Properties over generated Jobs, CronJobs and Argo workflows, for the shipped set and every
cloud example (each review through `tests/retries.py` `reviewed()`):

- the patch applies, and kubectl (the apiserver's JSON Patch code) and jsonpatch agree;
- every operation is an `add`, and every field the user set is still there, unchanged (but a
  defaulted `podReplacementPolicy: TerminatingOrFailed`, which the rule needs as Failed);
- a Job the apiserver accepts is still accepted (the Job schema and the ported batch rules), a
  workflow still matches the Argo CRD schema;
- reviewing the result again adds nothing (a fixed point in one call);
- a Job's own rules keep their places, first; a workflow's templates are never touched.

And the shapes a hostile or careless author can send cost linear time and no recursion.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.pods import SHIPPED_POLICIES, shipped
from tests.retries import reviewed
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.policy import load_policy_set
from webhook.workloads import review_workload
from webhook.workloads.review import MAX_JUDGED

Doc = dict[str, Any]
SETS = ["shipped", "aks", "eks", "gke", "karpenter"]


@cache
def policy_set(name: str) -> CompiledPolicySet:
    if name == "shipped":
        return shipped()
    return compile_policy_set(load_policy_set(SHIPPED_POLICIES / "examples" / name))


# --- generated pieces ------------------------------------------------------------------------

names = st.sampled_from(["main", "sidecar", "init"])
resources = st.one_of(
    st.none(),
    st.just({"requests": {"cpu": "2"}}),
    st.just({"limits": {"nvidia.com/gpu": "1"}}),
)
labels = st.dictionaries(
    st.sampled_from(["team", "jobset.sigs.k8s.io/jobset-name", "pipeline/runid", "tier"]),
    st.sampled_from(["a", "b"]),
    max_size=2,
)
annotations = st.dictionaries(
    st.sampled_from(["cluster-autoscaler.kubernetes.io/safe-to-evict", "example.com/note"]),
    st.sampled_from(["false", "true"]),
    max_size=1,
)
node_selectors = st.one_of(
    st.none(),
    st.just({"ng-name": "ondemand"}),
    st.just({"kubernetes.io/os": "linux"}),
    st.just({"eks.amazonaws.com/capacityType": "ON_DEMAND"}),
)
exit_rule = st.builds(
    lambda action, codes: {
        "action": action,
        "onExitCodes": {"operator": "In", "values": sorted(codes)},
    },
    st.sampled_from(["FailJob", "Count", "Ignore"]),
    st.sets(st.integers(1, 255), min_size=1, max_size=3),
)
condition_rule = st.builds(
    lambda action, kind: {"action": action, "onPodConditions": [{"type": kind, "status": "True"}]},
    st.sampled_from(["FailJob", "Count", "Ignore"]),
    st.sampled_from(["DisruptionTarget", "ConfigIssue", "example.com/Custom"]),
)


@st.composite
def jobs(draw: st.DrawFn) -> Doc:
    restart = draw(st.sampled_from(["Never", "Never", "OnFailure"]))
    container: Doc = {"name": draw(names), "image": "registry.example.com/app:1"}
    wanted = draw(resources)
    if wanted:
        container["resources"] = wanted
    pod: Doc = {"restartPolicy": restart, "containers": [container]}
    selector = draw(node_selectors)
    if selector:
        pod["nodeSelector"] = selector
    meta = {"labels": draw(labels), "annotations": draw(annotations)}
    spec: Doc = {"template": {"metadata": meta, "spec": pod}}
    rules = draw(st.lists(st.one_of(exit_rule, condition_rule), max_size=21))
    if rules and restart == "Never" and len(rules) <= 20:
        spec["podFailurePolicy"] = {"rules": rules}
    if draw(st.booleans()):  # as the apiserver's defaulting leaves it
        spec["podReplacementPolicy"] = "Failed" if "podFailurePolicy" in spec else (
            "TerminatingOrFailed")  # fmt: skip
    job: Doc = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "gen", "namespace": "batch"},
        "spec": spec,
    }
    if not draw(st.booleans()):
        return job
    spec.pop("podReplacementPolicy", None)  # a Job template is not defaulted as a Job
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "gen", "namespace": "batch"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": spec}},
    }


@st.composite
def workflows(draw: st.DrawFn) -> Doc:
    templates: list[Doc] = []
    for index in range(draw(st.integers(1, 4))):
        template: Doc = {"name": f"t{index}", "container": {"image": "registry.example.com/s:1"}}
        wanted = draw(resources)
        if wanted:
            template["container"]["resources"] = wanted
        selector = draw(node_selectors)
        if selector:
            template["nodeSelector"] = selector
        if draw(st.booleans()):
            template["retryStrategy"] = {"limit": draw(st.integers(1, 10))}
        if draw(st.booleans()):
            template["metadata"] = {"labels": draw(labels), "annotations": draw(annotations)}
        templates.append(template)
    spec: Doc = {"entrypoint": "t0", "templates": templates}
    defaults = draw(
        st.sampled_from(
            [
                None,
                {"timeout": "30s"},
                {"retryStrategy": {"limit": "2"}},
                {"nodeSelector": {"ng-name": "ondemand"}},
            ]
        )
    )
    if defaults is not None:
        spec["templateDefaults"] = defaults
    if draw(st.integers(0, 5)) == 0:
        spec["retryStrategy"] = {"limit": 1}
    kind = draw(st.sampled_from(["Workflow", "CronWorkflow", "WorkflowTemplate"]))
    meta = {"name": "gen", "namespace": "ml"}
    if kind == "CronWorkflow":
        body: Doc = {"schedules": ["0 * * * *"], "workflowSpec": spec}
    else:
        body = spec
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": kind, "metadata": meta, "spec": body}


def job_spec(obj: Doc) -> Doc:
    spec: Doc = obj["spec"]
    return spec["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else spec


@given(jobs(), st.sampled_from(SETS))
def test_every_generated_job_is_reviewed_add_only_valid_and_stable(obj: Doc, name: str) -> None:
    result, after = reviewed(policy_set(name), obj, "batch")
    rules = job_spec(obj).get("podFailurePolicy", {}).get("rules", [])
    assert job_spec(after).get("podFailurePolicy", {}).get("rules", [])[: len(rules)] == rules
    if result.ops:
        assert job_spec(obj)["template"]["spec"]["restartPolicy"] == "Never"


@given(workflows(), st.sampled_from(SETS))
def test_every_generated_workflow_is_reviewed_add_only_valid_and_stable(
    obj: Doc, name: str
) -> None:
    result, after = reviewed(policy_set(name), obj, "ml")
    spec = after["spec"]["workflowSpec"] if obj["kind"] == "CronWorkflow" else after["spec"]
    before = obj["spec"]["workflowSpec"] if obj["kind"] == "CronWorkflow" else obj["spec"]
    assert spec["templates"] == before["templates"]
    if result.ops:
        assert "retryStrategy" not in before and "retryStrategy" not in before.get(
            "templateDefaults", {}
        )


# --- hostile shapes ------------------------------------------------------------------------


def test_a_job_with_a_hundred_thousand_rules_is_refused_in_one_pass() -> None:
    rules = [
        {"action": "Count", "onExitCodes": {"operator": "In", "values": [i % 250 + 1]}}
        for i in range(100_000)
    ]
    obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "many", "namespace": "batch"},
        "spec": {
            "podFailurePolicy": {"rules": rules},
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m"}]}},
        },
    }
    result = review_workload(shipped(), obj, "batch")
    assert result.ops == [] and result.refused == "rule-limit"


def wide(templates: int, last_on_spot: bool) -> Doc:
    off = {"container": {"image": "i"}, "nodeSelector": {"ng-name": "ondemand"}}
    listed = [{"name": f"t{i}", **off} for i in range(templates - 1)]
    last = {"name": "last", **(off if not last_on_spot else {"container": {"image": "i"}})}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wide", "namespace": "ml"},
        "spec": {"templates": [*listed, last]},
    }


def test_a_workflow_is_judged_template_by_template_up_to_a_thousand() -> None:
    result = review_workload(shipped(), wide(MAX_JUDGED, last_on_spot=True), "ml")
    assert len(result.judged) == MAX_JUDGED and result.policy == "spot-retries"
    result = review_workload(shipped(), wide(30_000, last_on_spot=True), "ml")
    assert len(result.judged) == MAX_JUDGED and result.policy is None
    assert result.warnings == [
        "Workflow wide: only its first 1000 templates that run pods were judged for spot "
        "retries, and none goes to spot: the others are not judged"
    ]


def test_deep_template_defaults_do_not_recurse() -> None:
    deep: Doc = {}
    node = deep
    for _ in range(900):  # the request body allows 1,024 levels
        node["x"] = {}
        node = node["x"]
    obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "deep", "namespace": "ml"},
        "spec": {
            "templateDefaults": {"metadata": deep},
            "templates": [{"name": "t", "container": {"image": "i"}, "metadata": deep}],
        },
    }
    result = review_workload(shipped(), obj, "ml")
    assert result.policy == "spot-retries"
