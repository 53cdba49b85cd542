"""Pods generated for the comparison with the reference (tests/oracle.py): labels, annotations,
containers requesting extended and other resources, tolerations, required node affinity terms,
a nodeSelector and the ways a pod is bound to a node, drawn so that about half the pods are
placed and the rules under test have work to do."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Doc = dict[str, Any]

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
        {"key": "example.com/zone", "operator": "In", "values": ["a", "b"]},
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
