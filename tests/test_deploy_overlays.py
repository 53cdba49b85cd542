"""Overlays as a team writes them, outside this repository: another namespace (with
cert-manager, monitoring and the network policy), the network policy, and the team's own
policies by path and by git URL. Each renders with the real kubectl, validates, and keeps every
reference consistent (tests/overlays.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.overlays import (
    COMPONENTS,
    DEPLOY,
    OTHER_NAMESPACE,
    TEAM_POLICY,
    assert_consistent,
    overlay,
    own_policies,
    rel,
    validate,
)
from tests.test_deploy import REPO, Obj, one, render, selects

# --- another namespace --------------------------------------------------------------------


def everything_in(root: Path, namespace: str, *, references: bool) -> Path:
    kustomization: dict[str, Any] = {
        "namespace": namespace,
        "resources": [rel(root, DEPLOY / "cert-manager"), rel(root, DEPLOY / "monitoring")],
        "components": [
            rel(root, COMPONENTS / "pool-aks"),
            rel(root, COMPONENTS / "network-policy"),
        ],
        "patches": [
            {
                "target": {"kind": "NetworkPolicy", "name": "pod-placement-webhook"},
                "patch": "- {op: replace, path: /spec/ingress/0/from/0/ipBlock/cidr, "
                "value: 10.0.0.0/16}",
            }
        ],
    }
    if references:
        kustomization["transformers"] = [rel(root, DEPLOY / "namespace-references")]
    return overlay(root, kustomization)


def test_a_namespace_change_reaches_every_reference(tmp_path: Path) -> None:
    objects = render(everything_in(tmp_path / "cluster", OTHER_NAMESPACE, references=True))
    assert assert_consistent(objects) == OTHER_NAMESPACE
    kinds = {o["kind"] for o in objects}
    assert kinds >= {"Certificate", "Issuer", "PodMonitor", "PrometheusRule", "NetworkPolicy"}
    # Nothing still names the default namespace (the webhook's own name is a name, not one).
    text = yaml.safe_dump_all(objects)
    stale = [
        line.strip() for line in text.splitlines() if "pod-placement-webhook.pod-placement" in line
    ]
    assert stale == ["name: pod-placement-webhook.pod-placement-webhook.svc"]


def test_without_the_transformer_the_references_are_stale(tmp_path: Path) -> None:
    objects = render(everything_in(tmp_path / "cluster", OTHER_NAMESPACE, references=False))
    with pytest.raises(AssertionError):
        assert_consistent(objects)
    for webhook in one(objects, "MutatingWebhookConfiguration")["webhooks"]:
        assert webhook["clientConfig"]["service"]["namespace"] == "pod-placement-webhook"


def test_the_default_namespace_with_everything_is_consistent(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    objects = render(everything_in(root, "pod-placement-webhook", references=True))
    assert assert_consistent(objects) == "pod-placement-webhook"


def test_shipped_overlays_are_consistent() -> None:
    for directory in (DEPLOY, DEPLOY / "cert-manager", DEPLOY / "namespace-labels"):
        assert assert_consistent(render(directory)) == "pod-placement-webhook", directory
    for obj in render(DEPLOY / "monitoring"):
        validate(obj)


# --- the network policy --------------------------------------------------------------------


def test_network_policy_admits_the_apiserver_and_prometheus_only(tmp_path: Path) -> None:
    objects = render(everything_in(tmp_path / "cluster", OTHER_NAMESPACE, references=True))
    policy = one(objects, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["ingress"]}
    assert set(by_port) == {"https", "health"}
    assert {"ipBlock": {"cidr": "10.0.0.0/16"}} in by_port["https"]
    assert all("ipBlock" not in peer for peer in by_port["health"])
    (prometheus,) = by_port["health"]
    assert selects(prometheus["podSelector"], {"app.kubernetes.io/name": "prometheus"})


def network_policy_overlay(root: Path, resource: Path) -> Path:
    """docs/install.md's overlay: no `namespace:` of its own, the component added."""
    return overlay(
        root,
        {
            "resources": [rel(root, resource)],
            "components": [rel(root, COMPONENTS / "network-policy")],
        },
    )


def test_network_policy_lands_in_the_webhooks_namespace_from_an_overlay_without_one(
    tmp_path: Path,
) -> None:
    objects = render(network_policy_overlay(tmp_path / "cluster", DEPLOY))
    assert one(objects, "NetworkPolicy")["metadata"]["namespace"] == "pod-placement-webhook"
    assert assert_consistent(objects) == "pod-placement-webhook"


def test_network_policy_follows_a_namespace_set_by_the_overlay_it_builds_on(
    tmp_path: Path,
) -> None:
    moved = overlay(
        tmp_path / "moved",
        {
            "namespace": OTHER_NAMESPACE,
            "resources": [rel(tmp_path / "moved", DEPLOY)],
            "transformers": [rel(tmp_path / "moved", DEPLOY / "namespace-references")],
        },
    )
    objects = render(network_policy_overlay(tmp_path / "cluster", moved))
    assert one(objects, "NetworkPolicy")["metadata"]["namespace"] == OTHER_NAMESPACE
    assert assert_consistent(objects) == OTHER_NAMESPACE


def test_network_policy_refuses_to_apply_until_its_cidr_is_set() -> None:
    text = (COMPONENTS / "network-policy" / "networkpolicy.yaml").read_text()
    cidr = yaml.safe_load(text)["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"]
    # Not an address: the apiserver's validation refuses it, so a forgotten CIDR fails loudly.
    assert "/" not in cidr and not cidr[0].isdigit()


# --- own policies ---------------------------------------------------------------------------


def assert_serves_the_team_set(objects: list[Obj]) -> None:
    assert_consistent(objects)
    config_map = one(objects, "ConfigMap", "pod-placement-webhook-policies")
    assert config_map["data"] == {"gpu.yaml": TEAM_POLICY}
    volumes = one(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "policies", "configMap": {"name": "pod-placement-webhook-policies"}} in volumes


def test_own_policies_by_path_replace_the_shipped_set(tmp_path: Path) -> None:
    root = tmp_path / "team-repo" / "webhook"
    assert_serves_the_team_set(render(own_policies(root, rel(root, DEPLOY))))


def test_own_policies_by_git_url_with_a_ref(tmp_path: Path) -> None:
    # The form a team uses, `<repository URL>//deploy?ref=<tag or commit>`, here on this
    # checkout's own history (file://) rather than a hosted copy: the committed deploy/.
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    root = tmp_path / "team-repo"
    assert_serves_the_team_set(render(own_policies(root, f"file://{REPO}//deploy?ref={commit}")))


def test_the_shipped_own_policies_example() -> None:
    example = REPO / "examples" / "own-policies"
    objects = render(example)
    assert_consistent(objects)
    data = one(objects, "ConfigMap", "pod-placement-webhook-policies")["data"]
    assert set(data) == {p.name for p in (example / "policies").glob("[0-9]*.yaml")}
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"].startswith("registry.example.com/")
    assert spec["nodeSelector"] == {"eks.amazonaws.com/capacityType": "ON_DEMAND"}
