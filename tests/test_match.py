"""Match clauses, one table each: which pods a policy applies to, and the reason it gives
(`--explain`) when it does not. Every clause given must hold; a clause left out matches all."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import (
    ARGO_LABELS,
    DAEMONSET,
    JOB,
    KFP_LABELS,
    MIRROR_ANNOTATIONS,
    NO_EVICT,
    NODE,
    REPLICASET,
    STATEFULSET,
    WORKFLOW,
    compiled,
    container,
    gpu,
    owner,
    pod,
    policy,
    requesting,
)
from webhook.engine import mutate
from webhook.kube.workloads import workload_of

MARK = {"labels": {"matched": "yes"}}


def outcome(
    match: dict[str, Any],
    subject: dict[str, Any],
    namespace: str = "default",
    namespace_labels: dict[str, str] | None = None,
    exclude: tuple[dict[str, Any], ...] = (),
) -> tuple[bool, str | None]:
    """Whether the policy matched the pod, and its reason when it did not."""
    policies = compiled(policy("probe", MARK, match=match, exclude=exclude))
    result = mutate(policies, subject, namespace, namespace_labels, explain=True)
    (found,) = result.outcomes
    assert found.matched == (result.applied == ["probe"])
    return found.matched, found.reason


def case(
    match: dict[str, Any],
    subject: dict[str, Any],
    namespace: str,
    matched: bool,
    reason: str | None = None,
) -> tuple[Any, ...]:
    return match, subject, namespace, matched, reason


ROWS = {
    # namespaces
    "an exact namespace matches": case({"namespaces": ["ml"]}, pod(), "ml", True),
    "another namespace does not": case(
        {"namespaces": ["ml"]}, pod(), "web", False, "namespace 'web' not in ['ml']"
    ),
    "a star glob matches a prefix": case({"namespaces": ["ml-*"]}, pod(), "ml-team-a", True),
    "a star glob needs the prefix": case({"namespaces": ["ml-*"]}, pod(), "ml", False),
    "a question mark matches one character": case(
        {"namespaces": ["team-?"]}, pod(), "team-a", True
    ),
    "a bracket class matches one of its characters": case(
        {"namespaces": ["[ab]-jobs"]}, pod(), "b-jobs", True
    ),
    "exact names and globs mix": case({"namespaces": ["web", "ml-*"]}, pod(), "web", True),
    # excludeNamespaces
    "an excluded namespace does not match": case(
        {"excludeNamespaces": ["kube-*"]},
        pod(),
        "kube-system",
        False,
        "namespace 'kube-system' excluded",
    ),
    "a namespace not excluded matches": case({"excludeNamespaces": ["kube-*"]}, pod(), "ml", True),
    "exclusion wins over inclusion": case(
        {"namespaces": ["ml-*"], "excludeNamespaces": ["ml-prod"]}, pod(), "ml-prod", False
    ),
    # podSelector
    "matchLabels holds": case(
        {"podSelector": {"matchLabels": {"team": "vision"}}},
        pod(labels={"team": "vision"}),
        "default",
        True,
    ),
    "matchLabels with another value fails": case(
        {"podSelector": {"matchLabels": {"team": "vision"}}},
        pod(labels={"team": "nlp"}),
        "default",
        False,
        "label team not in ['vision']",
    ),
    "matchLabels on a pod without labels fails": case(
        {"podSelector": {"matchLabels": {"team": "vision"}}}, pod(), "default", False
    ),
    "In holds for one of its values": case(
        {
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["batch", "ml"]}]
            }
        },
        pod(labels={"tier": "ml"}),
        "default",
        True,
    ),
    "In fails when the label is absent": case(
        {
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["batch"]}]
            }
        },
        pod(),
        "default",
        False,
        "label tier not in ['batch']",
    ),
    "NotIn holds when the label is absent": case(
        {
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]
            }
        },
        pod(),
        "default",
        True,
    ),
    "NotIn fails on a listed value": case(
        {
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]
            }
        },
        pod(labels={"tier": "web"}),
        "default",
        False,
        "label tier in ['web']",
    ),
    "Exists holds with any value, even empty": case(
        {"podSelector": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}},
        pod(labels={"gpu": ""}),
        "default",
        True,
    ),
    "Exists fails when absent": case(
        {"podSelector": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}},
        pod(),
        "default",
        False,
        "label gpu absent",
    ),
    "DoesNotExist holds when absent": case(
        {"podSelector": {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}},
        pod(labels={"x": "y"}),
        "default",
        True,
    ),
    "DoesNotExist fails when present": case(
        {"podSelector": {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}},
        pod(labels={"gpu": "a"}),
        "default",
        False,
        "label gpu present",
    ),
    "matchLabels and matchExpressions must all hold": case(
        {
            "podSelector": {
                "matchLabels": {"a": "1"},
                "matchExpressions": [{"key": "b", "operator": "Exists"}],
            }
        },
        pod(labels={"a": "1"}),
        "default",
        False,
        "label b absent",
    ),
    "an empty selector matches every pod": case({"podSelector": {}}, pod(), "default", True),
    # annotationSelector
    "annotationSelector reads annotations": case(
        {"annotationSelector": {"matchLabels": NO_EVICT}},
        pod(annotations=NO_EVICT),
        "default",
        True,
    ),
    "annotationSelector does not read labels": case(
        {"annotationSelector": {"matchLabels": NO_EVICT}},
        pod(labels={"a": "b"}),
        "default",
        False,
        "annotation cluster-autoscaler.kubernetes.io/safe-to-evict not in ['false']",
    ),
    "annotationSelector Exists on an annotation key with a prefix": case(
        {
            "annotationSelector": {
                "matchExpressions": [
                    {"key": "workflows.argoproj.io/node-name", "operator": "Exists"}
                ]
            }
        },
        pod(annotations={"workflows.argoproj.io/node-name": "wf.step"}),
        "default",
        True,
    ),
    # ownerKinds
    "a bare Kind matches the controller owner": case(
        {"ownerKinds": ["Job"]}, pod(owners=[JOB]), "default", True
    ),
    "group/Kind matches the controller owner": case(
        {"ownerKinds": ["argoproj.io/Workflow"]}, pod(owners=[WORKFLOW]), "default", True
    ),
    "group/Kind with another group does not": case(
        {"ownerKinds": ["apps/Job"]},
        pod(owners=[JOB]),
        "default",
        False,
        "owner batch/Job not in ['apps/Job']",
    ),
    "a core-group owner is matched by its Kind": case(
        {"ownerKinds": ["Node"]}, pod(owners=[NODE]), "default", True
    ),
    "an owner that is not the controller does not count": case(
        {"ownerKinds": ["Job"]},
        pod(owners=[owner("Job", "batch/v1", controller=False)]),
        "default",
        False,
        "owner none not in ['Job']",
    ),
    "a pod without owners has no owner kind": case(
        {"ownerKinds": ["StatefulSet"]}, pod(), "default", False
    ),
    # requests and extendedResources
    "requests sees a limit-only GPU": case(
        {"requests": ["nvidia.com/gpu"]}, pod(gpu()), "default", True
    ),
    "requests sees an init container": case(
        {"requests": ["nvidia.com/gpu"]},
        pod(init=[requesting("nvidia.com/gpu", name="i")]),
        "default",
        True,
    ),
    "requests fails without the resource": case(
        {"requests": ["nvidia.com/gpu"]},
        pod(container(requests={"cpu": "1"})),
        "default",
        False,
        "requests none of ['nvidia.com/gpu']",
    ),
    "extendedResources true holds with any extended resource": case(
        {"extendedResources": True}, pod(requesting("example.com/fpga")), "default", True
    ),
    "extendedResources true fails with native resources only": case(
        {"extendedResources": True},
        pod(requesting("cpu", "memory")),
        "default",
        False,
        "requests no extended resource",
    ),
    "extendedResources false fails with a GPU": case(
        {"extendedResources": False},
        pod(gpu()),
        "default",
        False,
        "requests extended resources ['nvidia.com/gpu']",
    ),
    "extendedResources false holds for a CPU pod": case(
        {"extendedResources": False}, pod(requesting("cpu")), "default", True
    ),
    # placement
    "placement none holds for a pod that chose nothing": case(
        {"placement": "none"}, pod(), "default", True
    ),
    "placement none fails for a pod with a nodeSelector": case(
        {"placement": "none"},
        pod(node_selector={"pool": "a"}),
        "default",
        False,
        "pod has its own placement",
    ),
    "placement own holds for a pod with node affinity": case(
        {"placement": "own"},
        pod(
            affinity={
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "preference": {
                                "matchExpressions": [{"key": "a", "operator": "Exists"}]
                            },
                        }
                    ]
                }
            }
        ),
        "default",
        True,
    ),
    "placement own fails for a pod that chose nothing": case(
        {"placement": "own"}, pod(), "default", False, "pod has no placement of its own"
    ),
}


@pytest.mark.parametrize(
    ("match", "subject", "namespace", "matched", "reason"), list(ROWS.values()), ids=list(ROWS)
)
def test_match_clause(
    match: dict[str, Any],
    subject: dict[str, Any],
    namespace: str,
    matched: bool,
    reason: str | None,
) -> None:
    found, why = outcome(match, subject, namespace)
    assert found is matched
    if reason is not None:
        assert why == reason
    if matched:
        assert why is None


PLACEMENT_OWN = {
    "a nodeSelector": (pod(node_selector={"ng-name": "g1"}), True),
    "required node affinity": (
        pod(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "a", "operator": "Exists"}]}
                        ]
                    }
                }
            }
        ),
        True,
    ),
    "a nodeName": (pod(nodeName="n1"), True),
    "a spot toleration": (pod(tolerations=[{"key": "job", "operator": "Exists"}]), True),
    "a wildcard toleration": (pod(tolerations=[{"operator": "Exists"}]), True),
    "only DefaultTolerationSeconds' tolerations is no placement": (
        pod(
            tolerations=[
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ]
        ),
        False,
    ),
    "a not-ready toleration with another effect is a placement": (
        pod(
            tolerations=[
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                }
            ]
        ),
        True,
    ),
    "a toleration for a requested extended resource is no placement": (
        pod(
            gpu(),
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        ),
        False,
    ),
    "a toleration for an extended resource not requested is a placement": (
        pod(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
        True,
    ),
    "podAffinity alone is no node placement": (
        pod(
            affinity={
                "podAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 1, "podAffinityTerm": {"labelSelector": {}, "topologyKey": "k"}}
                    ]
                }
            }
        ),
        False,
    ),
    "an empty nodeSelector is no placement": (pod(node_selector={}), False),
}


@pytest.mark.parametrize(
    ("subject", "own"),
    list(PLACEMENT_OWN.values()),
    ids=[f"{k} {'counts' if v[1] else 'does not count'}" for k, v in PLACEMENT_OWN.items()],
)
def test_what_counts_as_a_pods_own_placement(subject: dict[str, Any], own: bool) -> None:
    assert outcome({"placement": "own"}, subject)[0] is own
    assert outcome({"placement": "none"}, subject)[0] is not own


def test_a_pod_matching_an_exclude_entry_is_left_alone() -> None:
    exclude = ({"namespaces": ["ci"]}, {"annotationSelector": {"matchLabels": NO_EVICT}})
    assert outcome({}, pod(annotations=NO_EVICT), exclude=exclude) == (
        False,
        "excluded by exclude[1]",
    )
    assert outcome({}, pod(), "ci", exclude=exclude) == (False, "excluded by exclude[0]")
    assert outcome({}, pod(), "ml", exclude=exclude) == (True, None)


NAMESPACE_SELECTOR = {"matchLabels": {"team": "ml"}}


@pytest.mark.parametrize(
    ("labels", "matched", "reason"),
    [
        ({"team": "ml", "env": "prod"}, True, None),
        ({"team": "web"}, False, "namespace label team not in ['ml']"),
        ({}, False, "namespace label team not in ['ml']"),
        (None, False, "namespace labels unknown: skipped"),
    ],
    ids=[
        "namespace labels that match",
        "namespace labels that do not",
        "a namespace without labels",
        "namespace labels unknown: the policy is skipped",
    ],
)
def test_namespace_selector(
    labels: dict[str, str] | None, matched: bool, reason: str | None
) -> None:
    assert outcome({"namespaceSelector": NAMESPACE_SELECTOR}, pod(), "ml", labels) == (
        matched,
        reason,
    )


def training_owner(kind: str) -> dict[str, Any]:
    return owner(kind, "kubeflow.org/v1", "bert")


# One row per signature in the workload table: the labels, annotations and controller owner
# each project sets on its pods at CREATE.
WORKLOADS = {
    "an Argo step pod": (
        pod(
            labels=ARGO_LABELS,
            owners=[WORKFLOW],
            annotations={"workflows.argoproj.io/node-name": "wf.step"},
        ),
        "argo-workflow",
    ),
    "an Argo pod recognised by its label alone": (pod(labels=ARGO_LABELS), "argo-workflow"),
    "an Argo pod recognised by its owner alone": (pod(owners=[WORKFLOW]), "argo-workflow"),
    "an Argo agent pod": (
        pod(labels={**ARGO_LABELS, "workflows.argoproj.io/component": "agent"}, owners=[WORKFLOW]),
        "argo-workflow",
    ),
    "a Kubeflow Pipelines v1 pod": (
        pod(
            labels={
                **ARGO_LABELS,
                "pipeline/runid": "r1",
                "pipelines.kubeflow.org/kfp_sdk_version": "1.8.22",
                "pipelines.kubeflow.org/pipeline-sdk-type": "kfp",
            },
            owners=[WORKFLOW],
        ),
        "kubeflow-pipeline",
    ),
    "a Kubeflow Pipelines v2 pod": (pod(labels=KFP_LABELS, owners=[WORKFLOW]), "kubeflow-pipeline"),
    "a Kubeflow Pipelines v2 driver pod": (
        pod(
            labels={**ARGO_LABELS, "pipelines.kubeflow.org/v2_component": "true"},
            annotations={"pipelines.kubeflow.org/runtime-role": "driver"},
            owners=[WORKFLOW],
        ),
        "kubeflow-pipeline-driver",
    ),
    "a Training Operator PyTorchJob worker": (
        pod(
            labels={
                "training.kubeflow.org/job-name": "bert",
                "training.kubeflow.org/operator-name": "pytorchjob-controller",
                "training.kubeflow.org/replica-type": "worker",
                "training.kubeflow.org/replica-index": "0",
            },
            owners=[training_owner("PyTorchJob")],
        ),
        "kubeflow-training",
    ),
    "an older Kubeflow job controller pod with unprefixed labels": (
        pod(
            labels={
                "group-name": "kubeflow.org",
                "job-name": "bert",
                "replica-type": "worker",
                "replica-index": "0",
            },
            owners=[training_owner("TFJob")],
        ),
        "kubeflow-training",
    ),
    "a Trainer v2 pod made through a JobSet": (
        pod(
            labels={
                "jobset.sigs.k8s.io/jobset-name": "bert",
                "jobset.sigs.k8s.io/replicatedjob-name": "node",
                "batch.kubernetes.io/job-name": "bert-node-0",
            },
            owners=[JOB],
        ),
        "jobset",
    ),
    "a Ray worker": (
        pod(
            labels={
                "ray.io/cluster": "rc",
                "ray.io/node-type": "worker",
                "ray.io/group": "gpu",
                "ray.io/is-ray-node": "yes",
            },
            owners=[owner("RayCluster", "ray.io/v1", "rc")],
        ),
        "ray",
    ),
    "a Spark driver without an owner": (
        pod(labels={"spark-role": "driver", "spark-app-selector": "spark-1"}),
        "spark",
    ),
    "a Spark executor owned by its driver pod": (
        pod(
            labels={"spark-role": "executor", "spark-exec-id": "1"},
            owners=[owner("Pod", "v1", "driver")],
        ),
        "spark",
    ),
    "a Kubeflow notebook": (
        pod(
            labels={
                "notebook-name": "nb",
                "statefulset": "nb",
                "statefulset.kubernetes.io/pod-name": "nb-0",
            },
            owners=[owner("StatefulSet", "apps/v1", "nb")],
        ),
        "notebook",
    ),
    "a JupyterHub user server": (
        pod(
            labels={
                "component": "singleuser-server",
                "hub.jupyter.org/username": "ada",
                "app": "jupyterhub",
            }
        ),
        "jupyterhub",
    ),
    "a JupyterHub user server with the recommended label only": (
        pod(labels={"app.kubernetes.io/component": "singleuser-server"}),
        "jupyterhub",
    ),
    "a Job pod": (pod(labels={"batch.kubernetes.io/job-name": "nightly"}, owners=[JOB]), "job"),
    "a CronJob run": (
        pod(
            labels={"batch.kubernetes.io/job-name": "nightly-29000000"},
            annotations={"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-01-01T00:00:00Z"},
            owners=[JOB],
        ),
        "job",
    ),
    "a StatefulSet pod": (
        pod(labels={"statefulset.kubernetes.io/pod-name": "db-0"}, owners=[STATEFULSET]),
        "statefulset",
    ),
    "a DaemonSet pod": (
        pod(labels={"pod-template-generation": "1"}, owners=[DAEMONSET]),
        "daemonset",
    ),
    "a mirror pod": (pod(annotations=MIRROR_ANNOTATIONS, owners=[NODE]), "mirror"),
    "a Deployment pod": (pod(owners=[REPLICASET]), "deployment"),
    "a pod of an unknown controller kind": (
        pod(owners=[owner("Rollout", "argoproj.io/v1alpha1", "web")]),
        "other",
    ),
    "a bare pod": (pod(), "bare"),
}


@pytest.mark.parametrize(
    ("subject", "workload"),
    list(WORKLOADS.values()),
    ids=[f"{k} is {v[1]}" for k, v in WORKLOADS.items()],
)
def test_workload_signatures(subject: dict[str, Any], workload: str) -> None:
    assert workload_of(subject) == workload
    assert outcome({"workloads": [workload]}, subject) == (True, None)


def test_a_workloads_clause_names_the_workload_it_saw() -> None:
    assert outcome({"workloads": ["notebook", "jupyterhub"]}, pod(owners=[JOB])) == (
        False,
        "workload job not in ['jupyterhub', 'notebook']",
    )


def test_clauses_are_anded() -> None:
    match = {"namespaces": ["ml-*"], "workloads": ["job"], "requests": ["nvidia.com/gpu"]}
    assert outcome(match, pod(gpu(), owners=[JOB]), "ml-a") == (True, None)
    assert outcome(match, pod(gpu(), owners=[JOB]), "web")[0] is False
    assert outcome(match, pod(owners=[JOB]), "ml-a")[0] is False
    assert outcome(match, pod(gpu()), "ml-a")[0] is False
