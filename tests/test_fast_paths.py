"""The request path's shortcuts give the answers the long way gives.

Facts carried from one policy to the next must equal facts read afresh from the changed pod,
and the (label key, value) index must offer every policy whose selector can match.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import (
    ARGO_LABELS,
    JOB,
    MIRROR_ANNOTATIONS,
    compiled,
    container,
    gpu,
    plain,
    pod,
    policy,
    toleration,
)
from webhook.engine.compile import BUILDERS
from webhook.match.facts import FACTS, PodFacts
from webhook.mutations import KINDS
from webhook.mutations.kind import Patching

NEW_TERM = [((), [{"matchExpressions": [{"key": "ng-name", "operator": "In", "values": ["g1"]}]}])]
PREFERRED = {"weight": 1, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}
WORKFLOW_TERM = {"weight": 3, "podAffinityTerm": {"labelSelector": {}, "topologyKey": "k"}}

# Each kind's items added to a pod that the kind's `stale` facts must account for.
CHANGES = [
    pytest.param(pod(gpu()), "annotations", {"a": "1"}, id="an annotation"),
    pytest.param(pod(owners=[JOB]), "labels", dict(ARGO_LABELS), id="a label that makes it Argo"),
    pytest.param(pod(), "annotations", dict(MIRROR_ANNOTATIONS), id="the mirror-pod annotation"),
    pytest.param(
        pod(container(requests={"cpu": "1"})),
        "tolerations",
        [toleration("job", "Exists", "NoSchedule")],
        id="a toleration gives it its own placement",
    ),
    pytest.param(
        pod(gpu()),
        "extendedResourceTolerations",
        [toleration("nvidia.com/gpu", "Exists", "NoSchedule")],
        id="the toleration of a requested extended resource",
    ),
    pytest.param(pod(), "nodeAffinity.required", NEW_TERM, id="a required node expression"),
    pytest.param(pod(), "nodeAffinity.preferred", [PREFERRED], id="a preferred node term"),
    pytest.param(pod(), "workflowPodAffinity", [WORKFLOW_TERM], id="a preferred pod term"),
    pytest.param(pod(), "dnsConfig.options", [{"name": "ndots", "value": "1"}], id="a dns option"),
    pytest.param(
        pod(),
        "topologySpreadConstraints",
        [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
            }
        ],
        id="a spread constraint",
    ),
]


def test_every_kind_has_a_change_below() -> None:
    named = {p.values[1] for p in CHANGES}
    assert {k.name for k in KINDS if k.patching is not Patching.COMPOSED} <= named


def test_a_kind_made_of_others_makes_stale_what_its_parts_make_stale() -> None:
    composed = [k for k in KINDS if k.patching is Patching.COMPOSED]
    assert composed
    for kind in composed:
        assert kind.parts
        assert all(part.stale <= kind.stale for part in kind.parts)


@pytest.mark.parametrize(("before", "kind_name", "items"), CHANGES)
def test_carried_facts_equal_fresh_facts(
    before: dict[str, Any], kind_name: str, items: Any
) -> None:
    (kind,) = [k for k in KINDS if k.name == kind_name]
    subject = plain(before)
    facts = PodFacts(subject, "ml")
    for name in FACTS:  # everything known before the change, as in a pass over many policies
        getattr(facts, name)
    _, after = BUILDERS[kind.patching](subject, kind.path, items)
    facts.advance(after, kind.stale)
    fresh = PodFacts(after, "ml")
    assert {n: getattr(facts, n) for n in FACTS} == {n: getattr(fresh, n) for n in FACTS}


VALUES = [
    policy(
        "team-vision",
        {"labels": {"seen": "vision"}},
        match={"podSelector": {"matchLabels": {"team": "vision"}}},
    ),
    policy(
        "tier-batch-or-ml",
        {"labels": {"seen": "tier"}},
        match={
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["batch", "ml"]}]
            }
        },
    ),
    policy(
        "has-gpu-label",
        {"labels": {"seen": "gpu"}},
        match={"podSelector": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}},
    ),
]


@pytest.mark.parametrize(
    ("labels", "offered"),
    [
        ({"team": "vision"}, ["team-vision"]),
        ({"team": "speech"}, []),
        ({"tier": "ml"}, ["tier-batch-or-ml"]),
        ({"tier": "web", "gpu": ""}, ["has-gpu-label"]),
        ({"team": ["not", "a", "string"]}, []),
    ],
    ids=[
        "the value it needs",
        "another value",
        "one of its In values",
        "any value for Exists",
        "a value that is not a string",
    ],
)
def test_the_index_offers_policies_by_label_value(
    labels: dict[str, Any], offered: list[str]
) -> None:
    policies = compiled(*VALUES)
    assert [p.name for p in policies.candidates("web", labels)] == offered


GLOBS = [
    policy("ml-any", {"labels": {"seen": "ml"}}, match={"namespaces": ["ml-*"]}),
    policy("team-a-or-b", {"labels": {"seen": "team"}}, match={"namespaces": ["team-[ab]", "x"]}),
]


@pytest.mark.parametrize(
    ("namespace", "offered"),
    [
        ("ml-train", ["ml-any"]),
        ("team-b", ["team-a-or-b"]),
        ("x", ["team-a-or-b"]),
        ("web", []),
    ],
    ids=[
        "a glob",
        "a character class",
        "an exact name beside a glob",
        "no glob matches",
    ],
)
def test_the_index_offers_glob_policies_by_namespace(namespace: str, offered: list[str]) -> None:
    policies = compiled(*GLOBS)
    assert [p.name for p in policies.candidates(namespace, {})] == offered
    # Asked again, the answer comes from the per-namespace cache.
    assert [p.name for p in policies.candidates(namespace, {})] == offered
