"""The engine held against an independent reference (tests/oracle.py) for its core rules:
required node affinity ANDed into every term, exclude, NotIn and DoesNotExist selectors, and
the ExtendedResourceToleration rule. Hypothesis compares both on generated pods; the table
rows below are the same rules written out by hand, and hold for both.

Only the engine's public seams are used: policies parsed as files are, `compile_policy_set`
and `mutate`; the patch is applied by jsonpatch, not by the engine.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import oracle
from tests.kube import jsonpatch_apply
from tests.pods import compiled, policy
from webhook.engine import mutate

Doc = dict[str, Any]

ZONE = {"key": "example.com/zone", "operator": "In", "values": ["a", "b"]}
ZONE_POLICY: Doc = {
    "match": {
        "podSelector": {
            "matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["system", "batch"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ]
        }
    },
    "exclude": [
        {"podSelector": {"matchLabels": {"team": "infra"}}},
        {
            "annotationSelector": {
                "matchExpressions": [{"key": "example.com/pinned", "operator": "Exists"}]
            }
        },
    ],
}
POLICY_SET = compiled(
    policy("gpu", {"extendedResourceTolerations": {}}, order=1),
    policy(
        "zone",
        {"nodeAffinity": {"required": [ZONE]}},
        match=ZONE_POLICY["match"],
        exclude=ZONE_POLICY["exclude"],
        order=2,
    ),
)
EXCLUDED_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease"}


def expected(pod: Doc, namespace: str) -> tuple[Doc, list[str]]:
    """The pod as the reference places it, and the policies that changed it."""
    applied = []
    after = oracle.with_extended_resource_tolerations(pod)
    if after != pod:
        applied.append("gpu")
    placed = not oracle.pinned(pod) and namespace not in EXCLUDED_NAMESPACES
    if placed and oracle.policy_applies(ZONE_POLICY, pod):
        zoned = oracle.with_required(after, ZONE)
        if zoned is not None and zoned != after:
            after = zoned
            applied.append("zone")
    return after, applied


def engine(pod: Doc, namespace: str) -> tuple[Doc, list[str]]:
    result = mutate(POLICY_SET, copy.deepcopy(pod), namespace)
    assert not result.errors, result.errors
    after = jsonpatch_apply(pod, result.ops)
    # The provenance annotation is the engine's own record, not part of these rules.
    annotations = after["metadata"].get("annotations") or {}
    annotations.pop("pod-placement-webhook/policies", None)
    if not annotations and "annotations" not in pod["metadata"]:
        after["metadata"].pop("annotations", None)
    return after, result.applied


# --- generated pods ------------------------------------------------------------------------

# Drawn so that about half the pods are placed: the rules under test then have work to do.
LABELS = st.dictionaries(
    st.sampled_from(["tier", "team", "app", "app", "legacy"]),
    st.sampled_from(["system", "batch", "infra", ""] + ["web"] * 4),
    max_size=2,
)
ANNOTATIONS = st.sampled_from(
    [None, None, {}, {"example.com/pinned": "yes"}, {"example.com/x": "1"}]
)
RESOURCE_NAMES = st.sampled_from(
    [
        "cpu",
        "memory",
        "hugepages-2Mi",
        "nvidia.com/gpu",
        "example.com/device-ek",
        "example.com/device-do",
        "example.com/GPU",
        "kubernetes.io.example.com/x",
        "node.kubernetes.io/x",
        "requests.example.com/gpu",
        "Example.com/gpu",
        "example.com/a/b",
    ]
)
QUANTITIES = st.dictionaries(RESOURCE_NAMES, st.sampled_from(["0", "1"]), max_size=3)


@st.composite
def container(draw: st.DrawFn, name: str) -> Doc:
    resources = {
        k: v for k, v in (("requests", draw(QUANTITIES)), ("limits", draw(QUANTITIES))) if v
    }
    return {"name": name, "image": "i", **({"resources": resources} if resources else {})}


TOLERATIONS = st.lists(
    st.sampled_from(
        [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "nvidia.com/gpu", "operator": "Exists"},
            {"operator": "Exists"},
            {
                "key": "example.com/device-ek",
                "operator": "Equal",
                "value": "x",
                "effect": "NoExecute",
            },
            {"key": "example.com/device-do", "operator": "Exists", "effect": "PreferNoSchedule"},
        ]
    ),
    max_size=3,
    unique_by=str,
)
EXPRESSIONS = st.sampled_from(
    [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "example.com/disk", "operator": "Exists"},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
        {"key": "example.com/zone", "operator": "In", "values": ["b", "a"]},  # the same
        {"key": "example.com/zone", "operator": "NotIn", "values": ["c"]},  # another choice
    ]
)
TERMS = st.lists(
    st.one_of(
        st.lists(EXPRESSIONS, min_size=1, max_size=2, unique_by=str).map(
            lambda e: {"matchExpressions": e}
        ),
        st.just({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}),
    ),
    min_size=1,
    max_size=3,
)
PINS = st.sampled_from(["none"] * 5 + ["nodeName", "mirror", "daemonset"])


@st.composite
def pods(draw: st.DrawFn) -> Doc:
    metadata: Doc = {"name": "p", "labels": draw(LABELS)}
    annotations = draw(ANNOTATIONS)
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    spec: Doc = {
        "containers": [draw(container(f"c{i}")) for i in range(draw(st.integers(1, 2)))],
    }
    if draw(st.booleans()):
        spec["initContainers"] = [draw(container("init"))]
    tolerations = draw(TOLERATIONS)
    if tolerations:
        spec["tolerations"] = tolerations
    if draw(st.integers(0, 2)):
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": draw(TERMS)}
            }
        }
    selector = draw(
        st.sampled_from([None] * 4 + [{"example.com/zone": "a"}, {"example.com/zone": "c"}])
    )
    if selector:
        spec["nodeSelector"] = selector
    pin = draw(PINS)
    if pin == "nodeName":
        spec["nodeName"] = "node-1"
    elif pin == "mirror":
        metadata.setdefault("annotations", {})["kubernetes.io/config.mirror"] = "h"
    elif pin == "daemonset":
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "name": "d",
                "uid": "u",
                "controller": True,
            }
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


@given(pod=pods(), namespace=st.sampled_from(["ml"] * 4 + ["kube-system"]))
def test_the_engine_places_generated_pods_as_the_reference_does(pod: Doc, namespace: str) -> None:
    assert engine(pod, namespace) == expected(pod, namespace)


# --- the same rules, row by row --------------------------------------------------------------


def make(
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    terms: list[Doc] | None = None,
    requests: list[str] = (),  # type: ignore[assignment]
    tolerations: list[Doc] | None = None,
    **spec: Any,
) -> Doc:
    container: Doc = {"name": "main", "image": "i"}
    if requests:
        container["resources"] = {"requests": {n: "1" for n in requests}}
    pod: Doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": labels or {}},
        "spec": {"containers": [container], **spec},
    }
    if annotations is not None:
        pod["metadata"]["annotations"] = annotations
    if terms is not None:
        pod["spec"]["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    if tolerations is not None:
        pod["spec"]["tolerations"] = tolerations
    return pod


ARCH = {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
DISK = {"key": "example.com/disk", "operator": "Exists"}


def exists(key: str, effect: str = "NoSchedule") -> Doc:
    return {"key": key, "operator": "Exists", "effect": effect}


# (sentence, pod, namespace, required terms after or None, tolerations after or None)
ROWS: list[tuple[str, Doc, str, list[Doc] | None, list[Doc] | None]] = [
    ("a pod with no terms gets one term", make(), "ml", [{"matchExpressions": [ZONE]}], None),
    (
        "each of two ORed terms gets the expression",
        make(terms=[{"matchExpressions": [ARCH]}, {"matchExpressions": [DISK]}]),
        "ml",
        [{"matchExpressions": [ARCH, ZONE]}, {"matchExpressions": [DISK, ZONE]}],
        None,
    ),
    (
        "a term that has it already is left, the other gets it",
        make(
            terms=[
                {"matchExpressions": [dict(ZONE, values=["b", "a"])]},
                {"matchExpressions": [DISK]},
            ]
        ),
        "ml",
        [{"matchExpressions": [dict(ZONE, values=["b", "a"])]}, {"matchExpressions": [DISK, ZONE]}],
        None,
    ),
    (
        "a matchFields-only term gets matchExpressions",
        make(
            terms=[{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]
        ),
        "ml",
        [
            {
                "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}],
                "matchExpressions": [ZONE],
            }
        ],
        None,
    ),
    (
        "a term choosing the zone otherwise keeps the pod's choice everywhere",
        make(
            terms=[
                {"matchExpressions": [ARCH]},
                {"matchExpressions": [dict(ZONE, operator="NotIn", values=["c"])]},
            ]
        ),
        "ml",
        [
            {"matchExpressions": [ARCH]},
            {"matchExpressions": [dict(ZONE, operator="NotIn", values=["c"])]},
        ],
        None,
    ),
    (
        "NotIn: a tier outside the values matches",
        make({"tier": "web"}),
        "ml",
        [{"matchExpressions": [ZONE]}],
        None,
    ),
    ("NotIn: a tier inside the values does not", make({"tier": "batch"}), "ml", None, None),
    (
        "NotIn: an empty value outside the values matches",
        make({"tier": ""}),
        "ml",
        [{"matchExpressions": [ZONE]}],
        None,
    ),
    (
        "DoesNotExist: a legacy label, even empty, does not match",
        make({"legacy": ""}),
        "ml",
        None,
        None,
    ),
    ("exclude by label", make({"team": "infra"}), "ml", None, None),
    (
        "exclude by annotation presence",
        make(annotations={"example.com/pinned": ""}),
        "ml",
        None,
        None,
    ),
    (
        "another team is not excluded",
        make({"team": "web"}),
        "ml",
        [{"matchExpressions": [ZONE]}],
        None,
    ),
    ("no placement in kube-system", make(), "kube-system", None, None),
    ("no placement for a pod bound to a node", make(nodeName="n1"), "ml", None, None),
    (
        "ERT: sorted by byte order, one per name, quantity ignored",
        make(
            requests=["example.com/device-ek", "example.com/device-do", "cpu", "example.com/GPU"],
            nodeName="n1",
        ),
        "ml",
        None,
        [
            exists("example.com/GPU"),
            exists("example.com/device-do"),
            exists("example.com/device-ek"),
        ],
    ),
    (
        "ERT: an equal toleration is not added again; another effect or a wildcard is not equal",
        make(
            requests=["nvidia.com/gpu", "example.com/device-ek"],
            tolerations=[
                exists("nvidia.com/gpu"),
                {"operator": "Exists"},
                exists("example.com/device-ek", "NoExecute"),
            ],
            nodeName="n1",
        ),
        "ml",
        None,
        [
            exists("nvidia.com/gpu"),
            {"operator": "Exists"},
            exists("example.com/device-ek", "NoExecute"),
            exists("example.com/device-ek"),
        ],
    ),
    (
        "ERT: native, requests.-prefixed and malformed names get nothing",
        make(
            requests=[
                "hugepages-2Mi",
                "node.kubernetes.io/x",
                "requests.example.com/g",
                "Example.com/g",
                "a.b/c/d",
            ],
            nodeName="n1",
        ),
        "ml",
        None,
        None,
    ),
    (
        "ERT applies in kube-system too",
        make(requests=["nvidia.com/gpu"]),
        "kube-system",
        None,
        [exists("nvidia.com/gpu")],
    ),
]


@pytest.mark.parametrize(
    ("pod", "namespace", "terms", "tolerations"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_rules_by_hand(
    pod: Doc, namespace: str, terms: list[Doc] | None, tolerations: list[Doc] | None
) -> None:
    for name, (after, _) in (
        ("engine", engine(pod, namespace)),
        ("reference", expected(pod, namespace)),
    ):
        assert oracle.required_terms(after) == terms, name
        assert after["spec"].get("tolerations") == tolerations, name
