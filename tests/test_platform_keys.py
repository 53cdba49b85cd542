"""A nodeSelector or node-affinity term on the node's platform labels only (kubernetes.io/os,
kubernetes.io/arch and their deprecated beta spellings) is no placement of the pod's own: Helm
charts set `kubernetes.io/os: linux` on everything, and default routing must still place those
pods. The keys are PolicySettings `platformLabelKeys`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import (
    compiled,
    expr,
    mutated,
    pod,
    policy,
    required_terms,
    required_terms_of,
    settings,
)
from webhook.engine import mutate
from webhook.errors import PolicyError
from webhook.policy.load import parse_policy_set

OS = expr("kubernetes.io/os", "In", "linux")
ARCH = expr("kubernetes.io/arch", "In", "amd64", "arm64")
POOL = expr("ng-name", "In", "g1")
DEFAULT_POOL = expr("ng-name", "In", "default")
ROUTE = policy("route", {"nodeAffinity": {"required": [DEFAULT_POOL]}}, match={"placement": "none"})


def preferred(*expressions: dict[str, Any]) -> dict[str, Any]:
    term = {"weight": 10, "preference": {"matchExpressions": list(expressions)}}
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}


def routed(subject: dict[str, Any], *docs: dict[str, Any]) -> bool:
    result = mutate(compiled(*docs, ROUTE), subject, "default")
    return result.applied == ["route"]


OWN = {
    "nodeSelector kubernetes.io/os alone": (
        pod(node_selector={"kubernetes.io/os": "linux"}),
        False,
    ),
    "nodeSelector os and arch": (
        pod(node_selector={"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}),
        False,
    ),
    "the deprecated beta.kubernetes.io keys": (
        pod(node_selector={"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}),
        False,
    ),
    "nodeSelector os and a pool": (
        pod(node_selector={"kubernetes.io/os": "linux", "ng-name": "g1"}),
        True,
    ),
    "a required term on the architecture": (pod(affinity=required_terms([ARCH])), False),
    "a required term on os and architecture": (pod(affinity=required_terms([OS, ARCH])), False),
    "a required term on the architecture and a pool": (
        pod(affinity=required_terms([ARCH, POOL])),
        True,
    ),
    "two ORed terms, one of them naming a pool": (
        pod(affinity=required_terms([ARCH], [POOL])),
        True,
    ),
    "a required matchFields term (a DaemonSet's pin)": (
        pod(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
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
        True,
    ),
    "an empty required term": (
        pod(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}
                }
            }
        ),
        True,
    ),
    "required terms that are not a list": (
        pod(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": "x"}
                }
            }
        ),
        True,
    ),
    "a preferred term on the architecture": (pod(affinity=preferred(ARCH)), False),
    "a preferred term on a pool": (pod(affinity=preferred(POOL)), True),
    "a null required part next to a platform preference": (
        pod(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": None,
                    **preferred(OS)["nodeAffinity"],
                }
            }
        ),
        False,
    ),
    "an os nodeSelector with a spot toleration": (
        pod(
            node_selector={"kubernetes.io/os": "linux"},
            tolerations=[{"key": "job", "operator": "Exists"}],
        ),
        True,
    ),
}


@pytest.mark.parametrize(
    ("subject", "own"),
    list(OWN.values()),
    ids=[f"{k} {'is' if v[1] else 'is not'} own placement" for k, v in OWN.items()],
)
def test_platform_keys_choose_no_pool(subject: dict[str, Any], own: bool) -> None:
    assert routed(subject) is not own


SETTINGS = {
    "other keys replace the defaults: os then names a pool": (
        ["kubernetes.io/arch"],
        pod(node_selector={"kubernetes.io/os": "linux"}),
        False,
    ),
    "a key a cluster adds is platform too": (
        ["kubernetes.io/os", "example.com/fips"],
        pod(node_selector={"kubernetes.io/os": "linux", "example.com/fips": "true"}),
        True,
    ),
    "an empty list: every nodeSelector is a placement": (
        [],
        pod(node_selector={"kubernetes.io/os": "linux"}),
        False,
    ),
}


@pytest.mark.parametrize(
    ("keys", "subject", "is_routed"),
    list(SETTINGS.values()),
    ids=list(SETTINGS),
)
def test_platform_label_keys_come_from_the_settings(
    keys: list[str], subject: dict[str, Any], is_routed: bool
) -> None:
    assert routed(subject, settings(platformLabelKeys=keys)) is is_routed


def test_a_routed_pod_keeps_its_platform_term_and_gets_the_pool_in_it() -> None:
    _, after = mutated(compiled(ROUTE), pod(affinity=required_terms([ARCH])))
    assert required_terms_of(after) == [[ARCH, DEFAULT_POOL]]


def test_a_routed_pod_keeps_its_os_node_selector() -> None:
    _, after = mutated(compiled(ROUTE), pod(node_selector={"kubernetes.io/os": "linux"}))
    assert after["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert required_terms_of(after) == [[DEFAULT_POOL]]


def test_platform_label_keys_must_be_label_keys() -> None:
    text = b"""
apiVersion: pod-placement-webhook/v1
kind: PolicySettings
spec:
  platformLabelKeys: ["kubernetes.io/os", "not a key"]
"""
    with pytest.raises(PolicyError, match="platformLabelKeys"):
        parse_policy_set([("settings.yaml", text)])
