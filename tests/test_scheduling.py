"""Whether a node of a pool can run a pod: the scheduler's NodeAffinity, TaintToleration and
extended-resource fit, as `webhook.kube.scheduling` reads them from the raw pod. Rows written
from the Kubernetes semantics (component-helpers nodeaffinity, Toleration.ToleratesTaint)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import expr, pod, required_terms, toleration
from webhook.kube.scheduling import Node, expression_holds, tolerates, why_not

LABELS = {"ng-name": "job", "gpus": "4"}

EXPRESSIONS = {
    "In with the node's value": (expr("ng-name", "In", "job", "g1"), True),
    "In without it": (expr("ng-name", "In", "g1"), False),
    "NotIn with the node's value": (expr("ng-name", "NotIn", "job"), False),
    "NotIn without it": (expr("ng-name", "NotIn", "g1"), True),
    "Exists on a stated key": (expr("ng-name", "Exists"), True),
    "DoesNotExist on a stated key": (expr("ng-name", "DoesNotExist"), False),
    "Gt below the value": (expr("gpus", "Gt", "2"), True),
    "Gt at the value": (expr("gpus", "Gt", "4"), False),
    "Lt above the value": (expr("gpus", "Lt", "8"), True),
    "Gt on a value that is not a number": (expr("ng-name", "Gt", "1"), False),
    "In on a key the pool does not state may hold": (expr("zone", "In", "a"), True),
    "DoesNotExist on a key the pool does not state may hold": (expr("zone", "DoesNotExist"), True),
}


@pytest.mark.parametrize(("expression", "holds"), list(EXPRESSIONS.values()), ids=list(EXPRESSIONS))
def test_expression_on_node_labels(expression: dict[str, Any], holds: bool) -> None:
    assert expression_holds(expression, LABELS) is holds


TAINT = ("nvidia.com/gpu", "true", "NoSchedule")
TOLERATIONS = {
    "Exists on the key": (toleration("nvidia.com/gpu", "Exists", "NoSchedule"), True),
    "Exists on the key, any effect": (toleration("nvidia.com/gpu", "Exists"), True),
    "Equal with the value": (toleration("nvidia.com/gpu", "Equal", "NoSchedule", "true"), True),
    "Equal with another value": (toleration("nvidia.com/gpu", "Equal", "NoSchedule", "x"), False),
    "an empty operator is Equal": (
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"},
        True,
    ),
    "another effect": (toleration("nvidia.com/gpu", "Exists", "NoExecute"), False),
    "another key": (toleration("job", "Exists", "NoSchedule"), False),
    "an empty key with Exists tolerates every taint": (toleration("", "Exists"), True),
}


@pytest.mark.parametrize(("tol", "result"), list(TOLERATIONS.values()), ids=list(TOLERATIONS))
def test_toleration_of_a_taint(tol: dict[str, Any], result: bool) -> None:
    assert tolerates(tol, TAINT) is result


GPU_NODE = Node({"ng-name": "g1"}, [TAINT], ["nvidia.com/gpu"])
PLAIN_NODE = Node({"ng-name": "default"}, [], [])
TAINTED_NODE = Node(
    {"ng-name": "job"}, [("job", "", "NoSchedule"), ("soft", "", "PreferNoSchedule")], []
)
GPU_TOLERATION = toleration("nvidia.com/gpu", "Exists", "NoSchedule")
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
FITS: dict[str, tuple[Any, Node, tuple[str, ...], str | None]] = {
    "a plain pod fits an untainted pool": (pod(), PLAIN_NODE, (), None),
    "a GPU pod tolerating the taint fits the GPU pool": (
        pod(tolerations=[GPU_TOLERATION]),
        GPU_NODE,
        ("nvidia.com/gpu",),
        None,
    ),
    "a GPU pod not tolerating the taint does not": (
        pod(),
        GPU_NODE,
        ("nvidia.com/gpu",),
        "its taint nvidia.com/gpu=true:NoSchedule is not tolerated",
    ),
    "a GPU pod on a pool without GPUs": (
        pod(),
        PLAIN_NODE,
        ("nvidia.com/gpu",),
        "it offers no nvidia.com/gpu",
    ),
    "a toleration of the taint's key with another value does not open the pool": (
        pod(tolerations=[toleration("nvidia.com/gpu", "Equal", "NoSchedule", "false")]),
        GPU_NODE,
        ("nvidia.com/gpu",),
        "its taint nvidia.com/gpu=true:NoSchedule is not tolerated",
    ),
    "a toleration of the taint's key with another effect does not open the pool": (
        pod(tolerations=[toleration("nvidia.com/gpu", "Exists", "NoExecute")]),
        GPU_NODE,
        ("nvidia.com/gpu",),
        "its taint nvidia.com/gpu=true:NoSchedule is not tolerated",
    ),
    "an empty nodeSelectorTerm matches no node (the apiserver admits it)": (
        pod(affinity=required_terms([])),
        PLAIN_NODE,
        (),
        "its labels do not meet an empty nodeSelectorTerm, which matches no node",
    ),
    "a required node affinity with no terms matches no node": (
        pod(affinity={"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": []}}}),
        PLAIN_NODE,
        (),
        "its labels do not meet a required node affinity with no nodeSelectorTerms",
    ),
    "a Gt value the scheduler cannot parse matches no node": (
        pod(affinity=required_terms([expr("gpus", "Gt", "four")])),
        PLAIN_NODE,
        (),
        "its labels do not meet a requirement the scheduler cannot parse: gpus Gt ['four']",
    ),
    "a signed Gt value is no label value: it matches no node": (
        pod(affinity=required_terms([expr("gpus", "Gt", "+4")])),
        PLAIN_NODE,
        (),
        "its labels do not meet a requirement the scheduler cannot parse: gpus Gt ['+4']",
    ),
    "an operator the scheduler does not know matches no node": (
        pod(affinity=required_terms([expr("ng-name", "Within", "default")])),
        PLAIN_NODE,
        (),
        "its labels do not meet a requirement the scheduler cannot parse: "
        "ng-name Within ['default']",
    ),
    "a term the scheduler cannot parse leaves the other terms": (
        pod(affinity=required_terms([expr("gpus", "Gt", "four")], [expr("ng-name", "Exists")])),
        PLAIN_NODE,
        (),
        None,
    ),
    "a matchFields pin on a node name may hold on any node of a pool": (
        pod(
            affinity={
                "nodeAffinity": {
                    REQUIRED: {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": ["n1"]}
                                ]
                            }
                        ]
                    }
                }
            }
        ),
        PLAIN_NODE,
        (),
        None,
    ),
    "a PreferNoSchedule taint needs no toleration": (
        pod(tolerations=[toleration("job", "Exists", "NoSchedule")]),
        TAINTED_NODE,
        (),
        None,
    ),
    "a nodeSelector the pool's labels contradict": (
        pod(node_selector={"ng-name": "job"}),
        PLAIN_NODE,
        (),
        "its labels do not meet nodeSelector ng-name=job",
    ),
    "one of two ORed terms is enough": (
        pod(
            affinity=required_terms(
                [expr("ng-name", "In", "job")], [expr("ng-name", "In", "default")]
            )
        ),
        PLAIN_NODE,
        (),
        None,
    ),
    "every expression of a term must hold": (
        pod(
            affinity=required_terms(
                [expr("ng-name", "In", "default"), expr("ng-name", "NotIn", "default")]
            )
        ),
        PLAIN_NODE,
        (),
        "its labels do not meet ng-name NotIn ['default']",
    ),
}


@pytest.mark.parametrize(
    ("subject", "node", "extended", "why"), list(FITS.values()), ids=list(FITS)
)
def test_why_a_pool_cannot_run_a_pod(
    subject: Any, node: Node, extended: tuple[str, ...], why: str | None
) -> None:
    misfit = why_not(subject, node, extended)
    assert (None if misfit is None else str(misfit)) == why
