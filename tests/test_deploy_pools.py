"""deploy/components/pool-*: each cloud's component puts the replicas on its on-demand system
pool and tolerates that pool's taint, in an overlay outside this repository."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.overlays import COMPONENTS, DEPLOY, OTHER_NAMESPACE, assert_consistent, overlay, rel
from tests.reviews import gpu_pod
from tests.test_deploy import SYSTEM_NAMESPACES, Obj, namespace_labels, one, render, selects
from tests.test_match_conditions import CALLED, decision, evaluate

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


# component: the namespaces of that provider's own components (cited in the component), and
# namespaces of the same shape that are the team's own: the webhook is called for those.
PROVIDER_NAMESPACES = {
    "pool-ng-name": ([], ["ml", "monitoring"]),
    "pool-eks": (["amazon-cloudwatch", "amazon-guardduty"], ["ml", "amazon-team"]),
    "pool-karpenter": (
        ["amazon-cloudwatch", "amazon-guardduty", "karpenter"],
        ["ml", "karpenter-jobs"],
    ),
    "pool-gke": (
        [
            "gmp-system",
            "gmp-public",
            "gke-gmp-system",
            "gke-managed-system",
            "gke-managed-cim",
            "gke-managed-filestorecsi",
            "gke-managed-volumepopulator",
        ],
        ["ml", "gke-team", "my-gke-managed-apps", "gmp"],
    ),
    "pool-aks": (
        ["gatekeeper-system", "azure-arc", "calico-system", "tigera-operator"],
        ["ml", "gatekeeper", "calico-apps"],
    ),
}


def called_for(hook: Obj, namespace: str) -> bool:
    """Whether the apiserver calls the webhook for a pod created in `namespace`: its
    namespaceSelector on the namespace's labels, then its matchConditions (CEL)."""
    labels = namespace_labels(namespace)
    return selects(hook["namespaceSelector"], labels) and decision(hook, gpu_pod(), namespace) == (
        CALLED
    )


@pytest.mark.parametrize("component", sorted(PROVIDER_NAMESPACES))
def test_each_cloud_component_keeps_the_webhook_off_its_providers_namespaces(
    component: str, tmp_path: Path
) -> None:
    root = tmp_path / "cluster"
    kustomization = {
        "resources": [rel(root, DEPLOY)],
        "components": [rel(root, COMPONENTS / component)],
    }
    objects = render(overlay(root, kustomization))
    pods, retries = one(objects, "MutatingWebhookConfiguration")["webhooks"]
    providers, teams = PROVIDER_NAMESPACES[component]
    for namespace in [*SYSTEM_NAMESPACES, *providers]:
        assert not called_for(pods, namespace), namespace
    for namespace in teams:
        assert called_for(pods, namespace), namespace
    for condition in pods["matchConditions"]:
        for namespace in [*providers, *teams]:
            assert isinstance(evaluate(condition["expression"], gpu_pod(), namespace), bool)
    # The Job and workflow webhook keeps off the same namespaces.
    assert retries["namespaceSelector"] == pods["namespaceSelector"]
    assert [c for c in pods["matchConditions"] if c["name"] != "not-a-mirror-pod"] == [
        c for c in retries["matchConditions"] if "namespace" in c["name"]
    ]


def test_provider_namespaces_follow_the_webhook_into_another_namespace(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    kustomization = {
        "namespace": OTHER_NAMESPACE,
        "resources": [rel(root, DEPLOY)],
        "components": [rel(root, COMPONENTS / "pool-gke")],
        "transformers": [rel(root, DEPLOY / "namespace-references")],
    }
    objects = render(overlay(root, kustomization))
    assert assert_consistent(objects) == OTHER_NAMESPACE
    hook, _ = one(objects, "MutatingWebhookConfiguration")["webhooks"]
    assert not called_for(hook, OTHER_NAMESPACE)
    assert not called_for(hook, "gmp-system") and called_for(hook, "pod-placement-webhook")


def test_every_shipped_pool_component_is_tested() -> None:
    assert sorted(PROVIDER_NAMESPACES) == sorted(POOLS)
    assert sorted(p.name for p in COMPONENTS.glob("pool-*")) == sorted(POOLS)
