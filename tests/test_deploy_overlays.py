"""Overlays as a team writes them, outside this repository: each cloud's pool component, its own
policies, another namespace, cert-manager, monitoring and the network policy. Each one renders
with the real kubectl, validates against the Kubernetes schema (the CRDs by shape), and keeps
every reference consistent: the names and namespaces one object writes about another."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.kube import K8S_VERSION
from tests.test_deploy import REPO, Obj, one, render, selects

DEPLOY = REPO / "deploy"
COMPONENTS = DEPLOY / "components"
OTHER_NAMESPACE = "platform-webhooks"

# Custom resources: kubernetes-validate has no schema for them; checked by shape below.
CRD_API_VERSIONS = {
    "Issuer": "cert-manager.io/v1",
    "Certificate": "cert-manager.io/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}


def overlay(root: Path, kustomization: Mapping[str, Any], files: Mapping[str, str] = {}) -> Path:
    """A team's kustomization directory under `root`, naming this repository by relative path
    (kustomize refuses absolute ones), as a checkout next to the team's repository would."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "kustomization.yaml").write_text(yaml.safe_dump(dict(kustomization)))
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def rel(root: Path, target: Path) -> str:
    return os.path.relpath(target, root)


# --- schema and reference checks ----------------------------------------------------------


def validate(obj: Obj) -> None:
    kind = obj["kind"]
    if kind not in CRD_API_VERSIONS:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        return
    assert obj["apiVersion"] == CRD_API_VERSIONS[kind], kind
    assert obj["metadata"]["name"] and obj["metadata"]["namespace"], kind
    spec = obj["spec"]
    if kind == "PrometheusRule":
        for group in spec["groups"]:
            for rule in group["rules"]:
                assert ("alert" in rule) != ("record" in rule) and rule["expr"], rule
    if kind == "PodMonitor":
        assert spec["selector"] and spec["podMetricsEndpoints"]
    if kind == "Certificate":
        assert spec["secretName"] and spec["issuerRef"]["name"]


def assert_consistent(objects: list[Obj]) -> str:
    """Every reference between the rendered objects agrees; returns the namespace."""
    service = one(objects, "Service", "pod-placement-webhook")
    namespace: str = service["metadata"]["namespace"]
    for obj in objects:
        validate(obj)
        if "namespace" in obj["metadata"]:
            assert obj["metadata"]["namespace"] == namespace, obj["kind"]
    assert one(objects, "Namespace")["metadata"]["name"] == namespace
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--port={ports[service['spec']['ports'][0]['targetPort']]}" in container["args"]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod["metadata"]["labels"])

    hook = one(objects, "MutatingWebhookConfiguration")
    (webhook,) = hook["webhooks"]
    ref = webhook["clientConfig"]["service"]
    assert (ref["name"], ref["namespace"]) == (service["metadata"]["name"], namespace)
    assert ref["port"] == service["spec"]["ports"][0]["port"]
    assert not selects(webhook["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})

    account = one(objects, "ServiceAccount", pod["spec"]["serviceAccountName"])
    binding = one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": namespace}
    ]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    one(objects, "ConfigMap", volumes["policies"]["configMap"]["name"])
    _check_certificates(objects, hook, volumes["tls"]["secret"]["secretName"], namespace)
    _check_monitoring(objects, pod, ports)
    return namespace


def _check_certificates(objects: list[Obj], hook: Obj, secret: str, namespace: str) -> None:
    certificates = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Certificate"}
    issuers = {o["metadata"]["name"] for o in objects if o["kind"] == "Issuer"}
    annotations = hook["metadata"].get("annotations") or {}
    if not certificates:
        assert "cert-manager.io/inject-ca-from" not in annotations
        return
    for certificate in certificates.values():
        assert certificate["spec"]["issuerRef"]["name"] in issuers
    injected_namespace, name = annotations["cert-manager.io/inject-ca-from"].split("/")
    assert injected_namespace == namespace
    serving = certificates[name]["spec"]
    assert serving["secretName"] == secret
    service = one(objects, "Service")["metadata"]["name"]
    assert f"{service}.{namespace}.svc" in serving["dnsNames"]
    for dns_name in serving["dnsNames"][1:]:
        assert dns_name.split(".")[:2] == [service, namespace], dns_name


def _check_monitoring(objects: list[Obj], pod: Obj, ports: Mapping[str, int]) -> None:
    labels = pod["metadata"]["labels"]
    for monitor in (o for o in objects if o["kind"] == "PodMonitor"):
        # No namespaceSelector: the PodMonitor selects pods of its own namespace.
        assert "namespaceSelector" not in monitor["spec"]
        assert selects(monitor["spec"]["selector"], labels)
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in ports
    for rule in (o for o in objects if o["kind"] == "PrometheusRule"):
        assert "namespace=" not in yaml.safe_dump(rule["spec"]), "a namespace in an alert"
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        assert selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"]["ingress"]:
            assert all(p["port"] in ports for p in rule["ports"])


# --- one component per cloud ------------------------------------------------------------------

# component: (labels of a node in that cloud's system pool, its taint, a spot node's labels)
POOLS = {
    "pool-ng-name": (
        {"ng-name": "system"},
        {"key": "system", "effect": "NoSchedule"},
        {"ng-name": "job", "eks.amazonaws.com/capacityType": "SPOT"},
    ),
    "pool-eks": (
        {"eks.amazonaws.com/capacityType": "ON_DEMAND", "eks.amazonaws.com/nodegroup": "sys"},
        {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"},
        {"eks.amazonaws.com/capacityType": "SPOT"},
    ),
    "pool-karpenter": (
        {"karpenter.sh/capacity-type": "on-demand", "karpenter.sh/nodepool": "system"},
        {"key": "CriticalAddonsOnly", "effect": "NoSchedule"},
        {"karpenter.sh/capacity-type": "spot", "karpenter.sh/nodepool": "general"},
    ),
    "pool-gke": (
        {"cloud.google.com/gke-nodepool": "system"},
        {
            "key": "components.gke.io/gke-managed-components",
            "value": "true",
            "effect": "NoSchedule",
        },
        {"cloud.google.com/gke-nodepool": "batch", "cloud.google.com/gke-spot": "true"},
    ),
    "pool-aks": (
        {"kubernetes.azure.com/mode": "system", "kubernetes.azure.com/agentpool": "sys"},
        {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"},
        {"kubernetes.azure.com/mode": "user", "kubernetes.azure.com/scalesetpriority": "spot"},
    ),
}


def tolerates(tolerations: list[Obj], taint: Mapping[str, str]) -> bool:
    """The scheduler's rule (k8s.io/api/core/v1 Toleration.ToleratesTaint)."""
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint["effect"]:
            continue
        if toleration.get("key") and toleration["key"] != taint["key"]:
            continue
        if toleration.get("operator", "Equal") == "Exists":
            return True
        if toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def schedulable(spec: Obj, labels: Mapping[str, str]) -> bool:
    """nodeSelector and required node affinity (its terms are ORed) against a node's labels."""
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return any(
        selects({"matchExpressions": term["matchExpressions"]}, labels)
        for term in required["nodeSelectorTerms"]
    )


@pytest.mark.parametrize("component", sorted(POOLS))
def test_each_cloud_component_places_the_replicas_on_its_system_pool(
    component: str, tmp_path: Path
) -> None:
    root = tmp_path / "cluster"
    objects = render(
        overlay(
            root,
            {
                "resources": [rel(root, DEPLOY)],
                "components": [rel(root, COMPONENTS / component)],
            },
        )
    )
    assert assert_consistent(objects) == "pod-placement-webhook"
    system_node, system_taint, spot_node = POOLS[component]
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert schedulable(spec, system_node)
    assert tolerates(spec["tolerations"], system_taint)
    assert not schedulable(spec, spot_node)
    assert not tolerates(spec["tolerations"], {"key": "nvidia.com/gpu", "effect": "NoSchedule"})
    # Nothing else changes: the component only places the pods.
    base = one(render(DEPLOY), "Deployment")["spec"]["template"]["spec"]
    placement = ("nodeSelector", "tolerations", "affinity")
    assert {k: v for k, v in spec.items() if k not in placement} == {
        k: v for k, v in base.items() if k not in placement
    }


def test_every_shipped_pool_component_is_tested() -> None:
    assert sorted(p.name for p in COMPONENTS.glob("pool-*")) == sorted(POOLS)


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
    (webhook,) = one(objects, "MutatingWebhookConfiguration")["webhooks"]
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


def test_network_policy_refuses_to_apply_until_its_cidr_is_set() -> None:
    text = (COMPONENTS / "network-policy" / "networkpolicy.yaml").read_text()
    cidr = yaml.safe_load(text)["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"]
    # Not an address: the apiserver's validation refuses it, so a forgotten CIDR fails loudly.
    assert "/" not in cidr and not cidr[0].isdigit()


# --- own policies ---------------------------------------------------------------------------

TEAM_POLICY = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: team-gpu
spec:
  order: 0
  add:
    extendedResourceTolerations: {}
"""


def own_policies(root: Path, deploy: str) -> Path:
    return overlay(
        root,
        {
            "resources": [deploy],
            "configMapGenerator": [
                {
                    "name": "pod-placement-webhook-policies",
                    "behavior": "replace",
                    "files": ["policies/gpu.yaml"],
                    "options": {"disableNameSuffixHash": True},
                }
            ],
        },
        {"policies/gpu.yaml": TEAM_POLICY, "policies/gpu.test.yaml": "not a policy\n"},
    )


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
