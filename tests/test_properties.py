"""Properties over generated pods, for the shipped policies, every example set and one policy
set that uses every mutation at once:

- the patch applies, and kubectl (the apiserver's JSON Patch code) and jsonpatch agree;
- the result is a valid Pod;
- every field the user set is still there, unchanged (lists only grow at the end);
- mutating the result again gives no operations (applying twice equals applying once);
- the candidate index gives the same result as evaluating every policy.

HYPOTHESIS_PROFILE=soak runs 10,000 examples instead of the CI profile's 150.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.pods import (
    ARGO_LABELS,
    DAEMONSET,
    JOB,
    KFP_LABELS,
    NODE,
    REPLICASET,
    SHIPPED_POLICIES,
    STATEFULSET,
    WORKFLOW,
    compiled,
    mutated,
    owner,
    plain,
    policy,
    shipped,
)
from webhook.engine import CompiledPolicySet, compile_policy_set, mutate
from webhook.policy.load import load_policy_set

# --- the policy sets ------------------------------------------------------------------------

EVERY_MUTATION = [
    policy("gpu", {"extendedResourceTolerations": {"extraEffects": ["NoExecute"]}}, order=0),
    policy("mirror", {"mirrorNodeSelector": True}, order=1),
    policy(
        "spot",
        {
            "tolerations": [
                {"key": "job", "operator": "Exists", "effect": "NoSchedule"},
                {
                    "key": "kubernetes.azure.com/scalesetpriority",
                    "value": "spot",
                    "effect": "NoSchedule",
                },
            ],
            "nodeAffinity": {
                "required": [{"key": "ng-name", "operator": "In", "values": ["job"]}],
                "preferred": [
                    {
                        "weight": 50,
                        "matchExpressions": [
                            {
                                "key": "karpenter.sh/capacity-type",
                                "operator": "In",
                                "values": ["spot"],
                            }
                        ],
                    }
                ],
            },
        },
        match={"placement": "none"},
        order=2,
    ),
    policy(
        "pack",
        {
            "workflowPodAffinity": {"labelKeys": ["pipeline/runid", "example.com/run-id"]},
            "dnsConfig": {"options": [{"name": "ndots", "value": "1"}, {"name": "edns0"}]},
        },
        order=3,
    ),
    policy(
        "keep",
        {
            "annotations": {
                "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
                "karpenter.sh/do-not-disrupt": "true",
            },
            "labels": {"example.com/placed": "yes"},
        },
        match={"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}},
        order=4,
    ),
    policy("audit", {"labels": {"example.com/audited": "yes"}}, mode="audit", order=5),
    policy(
        "route-default",
        {
            "nodeAffinity": {
                "required": [{"key": "ng-name", "operator": "In", "values": ["default"]}]
            }
        },
        match={"placement": "none", "extendedResources": False},
        order=9,
    ),
]


@cache
def policy_sets() -> dict[str, CompiledPolicySet]:
    sets = {"shipped": shipped(), "every-mutation": compiled(*EVERY_MUTATION)}
    for example in sorted((SHIPPED_POLICIES / "examples").iterdir()):
        if example.is_dir():
            sets[example.name] = compile_policy_set(load_policy_set(example))
    return sets


# The set that uses every mutation at once finds the most, so it is drawn more often.
POLICY_SET_NAMES = [
    "shipped",
    "every-mutation",
    "every-mutation",
    "aks",
    "eks",
    "gke",
    "karpenter",
    "shipped",
    "every-mutation",
]

# --- pods -----------------------------------------------------------------------------------

# Keys with `/` and `~` exercise the patch's escaping; `~` is not valid in a real key, but the
# webhook must still never break on what it is sent.
KEYS = st.sampled_from(
    [
        "app",
        "tier",
        "team",
        "example.com/run-id",
        "example.com/run~id",
        "x~y",
        "a.b/c~d",
        "pipeline/runid",
        "cluster-autoscaler.kubernetes.io/safe-to-evict",
        "karpenter.sh/do-not-disrupt",
        "example.com/placed",
        "ng-name",
    ]
)
VALUES = st.sampled_from(["", "a", "false", "true", "run-1", "g1"])
STRING_MAP = st.dictionaries(KEYS, VALUES, max_size=4)

WORKLOAD_LABELS = st.sampled_from(
    [
        {},
        ARGO_LABELS,
        KFP_LABELS,
        {"notebook-name": "nb"},
        {"component": "singleuser-server"},
        {"ray.io/cluster": "rc"},
        {"training.kubeflow.org/job-name": "bert"},
        {"spark-role": "executor"},
        {"jobset.sigs.k8s.io/jobset-name": "js"},
    ]
)
OWNERS = st.sampled_from(
    [
        [],
        [WORKFLOW],
        [JOB],
        [STATEFULSET],
        [REPLICASET],
        [DAEMONSET],
        [NODE],
        [owner("RayCluster", "ray.io/v1")],
        [owner("PyTorchJob", "kubeflow.org/v1")],
        [owner("Job", "batch/v1", controller=False)],
    ]
)

RESOURCE_NAMES = st.sampled_from(
    [
        "cpu",
        "memory",
        "nvidia.com/gpu",
        "amd.com/gpu",
        "example.com/fpga",
        "example.com/GPU",
        "hugepages-2Mi",
        "requests.example.com/x",
        "kubernetes.io/foo",
        "Example.com/bad",
    ]
)
QUANTITIES = st.dictionaries(RESOURCE_NAMES, st.sampled_from(["0", "1", "2"]), max_size=3)


@st.composite
def containers(draw: st.DrawFn, prefix: str, min_size: int) -> list[dict[str, Any]]:
    out = []
    for index in range(draw(st.integers(min_size, 3))):
        item: dict[str, Any] = {"name": f"{prefix}{index}", "image": "registry.example.com/x:1"}
        resources = {
            k: v for k, v in (("requests", draw(QUANTITIES)), ("limits", draw(QUANTITIES))) if v
        }
        if resources:
            item["resources"] = resources
        if prefix == "init" and draw(st.booleans()):
            item["restartPolicy"] = "Always"
        out.append(item)
    return out


TOLERATIONS = st.lists(
    st.sampled_from(
        [
            {"key": "job", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "nvidia.com/gpu", "operator": "Exists"},
            {"operator": "Exists"},
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "kubernetes.azure.com/scalesetpriority",
                "operator": "",
                "value": "spot",
                "effect": "NoSchedule",
            },
            {"key": "highmem", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        ]
    ),
    max_size=4,
)

EXPRESSIONS = st.sampled_from(
    [
        {"key": "ng-name", "operator": "In", "values": ["g1"]},
        {"key": "ng-name", "operator": "In", "values": ["job"]},
        {"key": "ng-name", "operator": "NotIn", "values": ["system"]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
        {"key": "karpenter.sh/capacity-type", "operator": "Exists"},
        {"key": "topology.kubernetes.io/zone", "operator": "DoesNotExist"},
    ]
)
TERM = st.one_of(
    st.lists(EXPRESSIONS, min_size=1, max_size=3).map(lambda e: {"matchExpressions": e}),
    st.just({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}),
)
NODE_AFFINITY = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "requiredDuringSchedulingIgnoredDuringExecution": st.lists(
                TERM, min_size=1, max_size=2
            ).map(lambda terms: {"nodeSelectorTerms": terms}),
            "preferredDuringSchedulingIgnoredDuringExecution": st.lists(
                st.builds(
                    lambda w, e: {"weight": w, "preference": {"matchExpressions": [e]}},
                    st.sampled_from([1, 50]),
                    EXPRESSIONS,
                ),
                max_size=2,
            ),
        },
    ),
)
POD_AFFINITY_TERM = st.builds(
    lambda w, v: {
        "weight": w,
        "podAffinityTerm": {
            "labelSelector": {
                "matchExpressions": [
                    {"key": "workflows.argoproj.io/workflow", "operator": "In", "values": [v]}
                ]
            },
            "topologyKey": "kubernetes.io/hostname",
        },
    },
    st.sampled_from([3, 100]),
    st.sampled_from(["train-abc", "other"]),
)
AFFINITY = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "nodeAffinity": NODE_AFFINITY,
            "podAffinity": st.one_of(
                st.none(),
                st.lists(POD_AFFINITY_TERM, max_size=2).map(
                    lambda t: {"preferredDuringSchedulingIgnoredDuringExecution": t}
                ),
            ),
            "podAntiAffinity": st.just({"preferredDuringSchedulingIgnoredDuringExecution": []}),
        },
    ),
)
DNS_CONFIG = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "options": st.lists(
                st.sampled_from(
                    [
                        {"name": "ndots", "value": "1"},
                        {"name": "ndots", "value": "5"},
                        {"name": "ndots"},
                        {"name": "edns0"},
                        {"name": "timeout", "value": "2"},
                    ]
                ),
                max_size=3,
                unique_by=lambda o: o["name"],
            ),
            "nameservers": st.just(["10.0.0.10"]),
        },
    ),
)
NODE_SELECTOR = st.dictionaries(
    st.sampled_from(["ng-name", "kubernetes.io/arch", "example.com/pool"]),
    st.sampled_from(["g1", "ondemand", "amd64"]),
    max_size=2,
)


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    metadata: dict[str, Any] = draw(st.sampled_from([{"name": "p"}, {"generateName": "p-"}]))
    labels = {**draw(WORKLOAD_LABELS), **draw(STRING_MAP)}
    for key, source in (("labels", labels), ("annotations", draw(STRING_MAP))):
        shape = draw(st.sampled_from(["absent", "null", "value"]))
        if shape == "null":
            metadata[key] = None
        elif shape == "value":
            metadata[key] = source
    owners = draw(OWNERS)
    if owners:
        metadata["ownerReferences"] = owners
    spec: dict[str, Any] = {"containers": draw(containers("c", 1))}
    optional = {
        "initContainers": containers("init", 0),
        "tolerations": st.one_of(st.none(), TOLERATIONS),
        "nodeSelector": st.one_of(st.none(), NODE_SELECTOR),
        "affinity": AFFINITY,
        "dnsConfig": DNS_CONFIG,
        "nodeName": st.just("node-1"),
    }
    # Each optional field in one pod of three: pods with no placement of their own, the ones
    # most policies change, stay common.
    for key, strategy in optional.items():
        if draw(st.integers(0, 2)) == 0:
            spec[key] = draw(strategy)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


NAMESPACES = st.sampled_from(["default", "ml", "kube-system", "data", "pod-placement-webhook"])


@given(pod=pods(), namespace=NAMESPACES, set_name=st.sampled_from(POLICY_SET_NAMES))
def test_the_patch_applies_keeps_user_fields_and_is_idempotent(
    pod: dict[str, Any], namespace: str, set_name: str
) -> None:
    # `mutated` checks all of it: kubectl == jsonpatch, a valid Pod, the input a sub-document
    # of the output, and no operations on a second pass.
    result, _ = mutated(policy_sets()[set_name], pod, namespace)
    assert all(op["op"] == "add" for op in result.ops)
    assert not result.errors, result.errors


@given(pod=pods(), namespace=NAMESPACES, set_name=st.sampled_from(POLICY_SET_NAMES))
def test_the_index_never_changes_a_result(
    pod: dict[str, Any], namespace: str, set_name: str
) -> None:
    policies = policy_sets()[set_name]
    fast = mutate(policies, plain(pod), namespace)
    full = mutate(policies, plain(pod), namespace, explain=True)
    assert (fast.ops, fast.applied, fast.audited, fast.warnings) == (
        full.ops,
        full.applied,
        full.audited,
        full.warnings,
    )
