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
from webhook import patch
from webhook.additions import Additions
from webhook.match import PodFacts

FACTS = (
    "labels",
    "annotations",
    "owner_kinds",
    "workload",
    "resources",
    "extended",
    "own_placement",
)

CHANGES = [
    pytest.param(pod(), Additions(), id="nothing added"),
    pytest.param(pod(gpu()), Additions(annotations={"a": "1"}), id="an annotation"),
    pytest.param(
        pod(owners=[JOB]), Additions(labels=dict(ARGO_LABELS)), id="a label that makes it Argo"
    ),
    pytest.param(
        pod(), Additions(annotations=dict(MIRROR_ANNOTATIONS)), id="the mirror-pod annotation"
    ),
    pytest.param(
        pod(container(requests={"cpu": "1"})),
        Additions(tolerations=[toleration("job", "Exists", "NoSchedule")]),
        id="a toleration gives it its own placement",
    ),
    pytest.param(
        pod(),
        Additions(node_required=[{"key": "ng-name", "operator": "In", "values": ["g1"]}]),
        id="a required node expression",
    ),
    pytest.param(
        pod(),
        Additions(
            node_preferred=[
                {
                    "weight": 1,
                    "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
                }
            ]
        ),
        id="a preferred node term",
    ),
]


@pytest.mark.parametrize(("before", "added"), CHANGES)
def test_carried_facts_equal_fresh_facts(before: dict[str, Any], added: Additions) -> None:
    subject = plain(before)
    facts = PodFacts(subject, "ml")
    for name in FACTS:  # everything known before the change, as in a pass over many policies
        getattr(facts, name)
    _, after = patch.patched(subject, added)
    facts.advance(after, added)
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
