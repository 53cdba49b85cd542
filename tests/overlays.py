"""Overlays as a team writes them, outside this repository, and the checks every rendered
overlay must pass: the Kubernetes schema (custom resources by shape) and consistent references,
the names and namespaces one object writes about another."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests import crd_schema
from tests.kube import K8S_VERSION
from tests.test_deploy import CLUSTER_SCOPED, REPO, Obj, one, selects

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
    if crd_schema.known(obj):  # custom resources whose CRD tests/crds/ holds
        assert crd_schema.errors(obj) == [], kind
        return
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
        # Every namespaced object in the webhook's namespace: one without any would land in
        # whatever namespace `kubectl apply` runs in.
        where = obj["metadata"].get("namespace")
        if crd_schema.known(obj) and crd_schema.scope(obj) == "Cluster":
            continue  # kustomize stamps a namespace on it; kubectl and the apiserver drop it
        assert where == (None if obj["kind"] in CLUSTER_SCOPED else namespace), obj["kind"]
    assert one(objects, "Namespace")["metadata"]["name"] == namespace
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--port={ports[service['spec']['ports'][0]['targetPort']]}" in container["args"]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod["metadata"]["labels"])

    hook = one(objects, "MutatingWebhookConfiguration")
    for webhook in hook["webhooks"]:  # pods, and workload retries
        ref = webhook["clientConfig"]["service"]
        assert (ref["name"], ref["namespace"]) == (service["metadata"]["name"], namespace)
        assert ref["port"] == service["spec"]["ports"][0]["port"]
        own = {"kubernetes.io/metadata.name": namespace}
        assert not selects(webhook["namespaceSelector"], own)

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
