"""The engine held against an independent reference (tests/oracle.py) for its core rules:
required node affinity ANDed into every term, exclude, NotIn and DoesNotExist selectors, and
the ExtendedResourceToleration rule. Hypothesis compares both on generated pods; the table
rows below are the same rules written out by hand, and hold for both. The pods are drawn by
tests/oracle_pods.py.

Only the engine's public seams are used: policies parsed as files are, `compile_policy_set`
and `mutate`; the patch is applied by jsonpatch, not by the engine.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import oracle
from tests.kube import jsonpatch_apply
from tests.oracle_pods import pods
from tests.pods import compiled, policy
from webhook.engine import mutate

Doc = dict[str, Any]

ZONE = oracle.ZONE
POLICY_SET = compiled(*(policy(**p) for p in oracle.POLICIES))


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


@settings(max_examples=max(400, settings.default.max_examples))  # about a second
@given(pod=pods(), namespace=st.sampled_from(["ml"] * 4 + ["kube-system"]))
def test_the_engine_places_generated_pods_as_the_reference_does(pod: Doc, namespace: str) -> None:
    assert engine(pod, namespace) == oracle.expected(pod, namespace)


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
    (
        "a pod with no terms gets one term",
        make(),
        "ml",
        [{"matchExpressions": [ZONE]}],
        None,
    ),
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
        [
            {"matchExpressions": [dict(ZONE, values=["b", "a"])]},
            {"matchExpressions": [DISK, ZONE]},
        ],
        None,
    ),
    (
        "a matchFields-only term pins the pod to its node: nothing is added",
        make(
            terms=[{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]
        ),
        "ml",
        [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}],
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
        ("reference", oracle.expected(pod, namespace)),
    ):
        assert oracle.required_terms(after) == terms, name
        assert after["spec"].get("tolerations") == tolerations, name
