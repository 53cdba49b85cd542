"""Node objects as each cloud writes them, for clusters the shipped examples describe.

The shape of every Node (metadata with uid, resourceVersion, creationTimestamp, annotations and
managedFields; spec with podCIDR, providerID and taints; status with capacity, allocatable,
conditions, addresses, daemonEndpoints, nodeInfo, images) follows kubernetes/api
`testdata/HEAD/core.v1.Node.json`, the API's own round-trip fixture. Labels and taints are the
ones each provider documents:

- EKS managed node groups: `eks.amazonaws.com/nodegroup`, `eks.amazonaws.com/capacityType`,
  `eks.amazonaws.com/nodegroup-image` and the `eks.amazonaws.com/sourceLaunchTemplate*` labels
  (awsdocs/amazon-eks-user-guide `latest/ug/nodes/managed-node-groups.adoc`: "Amazon EKS adds
  Kubernetes labels to managed node group instances ... prefixed with eks.amazonaws.com");
  `topology.k8s.aws/zone-id` and `k8s.io/cloud-provider-aws` from the AWS cloud provider; taints
  only as the group declares them (`latest/ug/ml/node-taints-managed-node-groups.adoc`).
- GKE Standard: `cloud.google.com/gke-nodepool`, `gke-os-distribution`, `gke-boot-disk`,
  `gke-container-runtime`, `machine-family` (kubernetes/autoscaler
  `cluster-autoscaler/cloudprovider/gce/templates.go`); Spot VMs `cloud.google.com/gke-spot=true`
  and `cloud.google.com/gke-provisioning=spot`, no taint unless the pool sets one
  (cloud.google.com/kubernetes-engine/docs/how-to/spot-vms); GPU pools
  `cloud.google.com/gke-accelerator` and the `nvidia.com/gpu=present:NoSchedule` taint GKE adds
  to a GPU pool of a cluster that has a non-GPU pool (docs/how-to/gpus).
- AKS: the reserved `kubernetes.azure.com/*` labels (MicrosoftDocs/azure-docs
  `articles/aks/reserved-labels-reference.md`); spot pools get
  `kubernetes.azure.com/scalesetpriority=spot` as a label and a NoSchedule taint
  (`articles/aks/spot-node-pool.md`); GPU pools `kubernetes.azure.com/accelerator=nvidia` and the
  `sku=gpu:NoSchedule` taint the GPU guide sets (`articles/aks/gpu-cluster.md`).
- Karpenter v1: `karpenter.sh/nodepool`, `karpenter.sh/capacity-type`, `karpenter.sh/initialized`,
  `karpenter.sh/registered` and the `karpenter.k8s.aws/instance-*` labels
  (aws/karpenter-provider-aws `website/content/en/docs/concepts/scheduling.md`), NodePool objects
  as `concepts/nodepools.md` writes them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

Doc = dict[str, Any]
CREATED = "2026-03-02T08:15:04Z"
GPU = "nvidia.com/gpu"


def node(
    name: str,
    labels: Mapping[str, str],
    *,
    provider_id: str,
    taints: Sequence[tuple[str, str, str]] = (),
    cpu: str = "4",
    memory: str = "16012796Ki",
    extended: Mapping[str, str] | None = None,
    kubelet: str = "v1.33.4-eks-1a2b3c4",
    os_image: str = "Amazon Linux 2023.7.20250512",
) -> Doc:
    """One Node in the shape of the API's fixture, with the kubelet's well-known labels."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    arch = labels.get("kubernetes.io/arch", "amd64")
    all_labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        **labels,
    }
    capacity = {
        "cpu": cpu,
        "ephemeral-storage": "83873772Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": memory,
        "pods": "110",
        **(extended or {}),
    }
    allocatable = {
        **capacity,
        "cpu": f"{int(cpu) * 1000 - 90}m",
        "ephemeral-storage": "76224326324",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": str(uuid.UUID(digest[:32])),
            "resourceVersion": str(int(digest[:6], 16)),
            "creationTimestamp": CREATED,
            "labels": all_labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "managedFields": [
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": CREATED,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}},
                },
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": CREATED,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:conditions": {}}},
                    "subresource": "status",
                },
            ],
        },
        "spec": {
            "podCIDR": "10.244.1.0/24",
            "podCIDRs": ["10.244.1.0/24"],
            "providerID": provider_id,
            **({"taints": [_taint(t) for t in taints]} if taints else {}),
        },
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": "2026-03-02T09:00:00Z",
                    "lastTransitionTime": CREATED,
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": "10.0.1.23"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": digest[:32],
                "systemUUID": str(uuid.UUID(digest[32:64])),
                "bootID": str(uuid.UUID(digest[:32][::-1])),
                "kernelVersion": "6.1.134-152.225.amzn2023.x86_64",
                "osImage": os_image,
                "containerRuntimeVersion": "containerd://1.7.27",
                "kubeletVersion": kubelet,
                "kubeProxyVersion": kubelet,
                "operatingSystem": "linux",
                "architecture": arch,
            },
            "images": [
                {"names": ["registry.k8s.io/pause@sha256:ee6521f290b2"], "sizeBytes": 320368}
            ],
        },
    }


def _taint(taint: tuple[str, str, str]) -> Doc:
    key, value, effect = taint
    return (
        {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def node_list(nodes: Sequence[Doc], *extra: Doc) -> Doc:
    """What `kubectl get nodes -o json` prints (a `List`); Karpenter NodePools may follow."""
    return {"apiVersion": "v1", "kind": "List", "items": [*nodes, *extra],
            "metadata": {"resourceVersion": ""}}  # fmt: skip


# --- EKS managed node groups: the cluster policies/examples/eks describes ----------------------

SPOT_TAINT = ("spot", "true", "NoSchedule")
GKE_SPOT_TAINT = ("cloud.google.com/gke-spot", "true", "NoSchedule")
EKS_GROUPS = {  # group: (capacityType, instance types, taints, GPUs per node)
    "system": ("ON_DEMAND", ["m6i.large"], [("system", "true", "NoSchedule")], 0),
    "ondemand": ("ON_DEMAND", ["m6i.2xlarge", "m6a.2xlarge"], [], 0),
    "ondemand-gpu": ("ON_DEMAND", ["g5.2xlarge"], [(GPU, "true", "NoSchedule")], 1),
    "batch-cpu": ("SPOT", ["c6i.4xlarge", "c6a.4xlarge", "c5.4xlarge"], [SPOT_TAINT], 0),
    "batch-gpu": ("SPOT", ["g5.12xlarge"], [(GPU, "true", "NoSchedule")], 4),
    "default": ("SPOT", ["m6i.xlarge", "m5.xlarge"], [], 0),
}  # fmt: skip
EKS_ZONES = [("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az2"), ("us-east-1c", "use1-az4")]


def eks_node(group: str, index: int) -> Doc:
    capacity, types, taints, gpus = EKS_GROUPS[group]
    zone, zone_id = EKS_ZONES[index % len(EKS_ZONES)]
    instance = types[index % len(types)]
    name = f"ip-10-0-{10 + list(EKS_GROUPS).index(group)}-{20 + index}.ec2.internal"
    labels = {
        "eks.amazonaws.com/capacityType": capacity,
        "eks.amazonaws.com/nodegroup": group,
        "eks.amazonaws.com/nodegroup-image": "ami-0c1f3a8b2d4e6f701",
        "eks.amazonaws.com/sourceLaunchTemplateId": f"lt-0{_digest(group)[:16]}",
        "eks.amazonaws.com/sourceLaunchTemplateVersion": "3",
        "failure-domain.beta.kubernetes.io/region": "us-east-1",
        "failure-domain.beta.kubernetes.io/zone": zone,
        "k8s.io/cloud-provider-aws": "8c7e4f9a2b1d3e5f6a7b8c9d0e1f2a3b",
        "node.kubernetes.io/instance-type": instance,
        "beta.kubernetes.io/instance-type": instance,
        "topology.ebs.csi.aws.com/zone": zone,
        "topology.k8s.aws/zone-id": zone_id,
        "topology.kubernetes.io/region": "us-east-1",
        "topology.kubernetes.io/zone": zone,
    }  # fmt: skip
    return node(
        name,
        labels,
        provider_id=f"aws:///{zone}/i-0{hashlib.sha256(name.encode()).hexdigest()[:16]}",
        taints=taints,
        extended={GPU: str(gpus)} if gpus else None,
    )


def eks_cluster(per_group: int = 2) -> list[Doc]:
    return [eks_node(g, i) for g in EKS_GROUPS for i in range(per_group)]


# --- GKE Standard, with Spot and GPU pools: policies/examples/gke --------------------------------

GKE_POOLS = {  # pool: (spot, machine type, taints set on the pool, accelerator, GPUs)
    "default-pool": (False, "e2-standard-8", [], None, 0),
    "gpu-pool": (False, "n1-standard-8", [], "nvidia-tesla-t4", 1),
    "spot-cpu": (True, "e2-standard-16", [GKE_SPOT_TAINT], None, 0),
    "spot-gpu": (True, "g2-standard-8", [GKE_SPOT_TAINT], "nvidia-l4", 1),
}  # fmt: skip


def gke_node(pool: str, index: int, gpu_effect: str = "NoSchedule") -> Doc:
    spot, machine, taints, accelerator, gpus = GKE_POOLS[pool]
    zone = ["us-central1-a", "us-central1-b", "us-central1-f"][index % 3]
    name = f"gke-ml-cluster-{pool}-{_digest(pool)[:8]}-{'x7k2q9zm'[index : index + 4]}"
    labels = {
        "cloud.google.com/gke-boot-disk": "pd-balanced",
        "cloud.google.com/gke-container-runtime": "containerd",
        "cloud.google.com/gke-cpu-scaling-level": machine.rsplit("-", 1)[-1],
        "cloud.google.com/gke-logging-variant": "DEFAULT",
        "cloud.google.com/gke-max-pods-per-node": "110",
        "cloud.google.com/gke-nodepool": pool,
        "cloud.google.com/gke-os-distribution": "cos",
        "cloud.google.com/gke-stack-type": "IPV4",
        "cloud.google.com/machine-family": machine.split("-", 1)[0],
        "cloud.google.com/private-node": "false",
        "failure-domain.beta.kubernetes.io/region": "us-central1",
        "failure-domain.beta.kubernetes.io/zone": zone,
        "node.kubernetes.io/instance-type": machine,
        "beta.kubernetes.io/instance-type": machine,
        "topology.gke.io/zone": zone,
        "topology.kubernetes.io/region": "us-central1",
        "topology.kubernetes.io/zone": zone,
    }  # fmt: skip
    if spot:
        labels |= {"cloud.google.com/gke-spot": "true", "cloud.google.com/gke-provisioning": "spot"}
    all_taints = list(taints)
    if accelerator:
        labels["cloud.google.com/gke-accelerator"] = accelerator
        all_taints.append((GPU, "present", gpu_effect))
    return node(
        name,
        labels,
        provider_id=f"gce://ml-project-4711/{zone}/{name}",
        taints=all_taints,
        extended={GPU: str(gpus)} if gpus else None,
        kubelet="v1.33.2-gke.1240000",
        os_image="Container-Optimized OS from Google",
    )


def gke_cluster(per_pool: int = 2) -> list[Doc]:
    return [gke_node(p, i) for p in GKE_POOLS for i in range(per_pool)]


# --- AKS, with spot and GPU pools: policies/examples/aks -----------------------------------------

AKS_POOLS = {  # pool: (mode, spot, VM size, taints set on the pool, GPU)
    "system": ("system", False, "Standard_D4ds_v5", [("CriticalAddonsOnly", "true", "NoSchedule")],
               0),
    "user": ("user", False, "Standard_D8ds_v5", [], 0),
    "usergpu": ("user", False, "Standard_NC24ads_A100_v4", [("sku", "gpu", "NoSchedule")], 1),
    "spotcpu": ("user", True, "Standard_F16s_v2", [], 0),
    "spotgpu": ("user", True, "Standard_NC8as_T4_v3", [("sku", "gpu", "NoSchedule")], 1),
}  # fmt: skip


def aks_node(pool: str, index: int) -> Doc:
    mode, spot, size, taints, gpus = AKS_POOLS[pool]
    name = f"aks-{pool}-38410562-vmss00000{index}"
    zone = f"westeurope-{index % 3 + 1}"
    labels = {
        "agentpool": pool,
        "kubernetes.azure.com/agentpool": pool,
        "kubernetes.azure.com/cluster": "MC_ml-rg_ml-aks_westeurope",
        "kubernetes.azure.com/consolidated-additional-properties": _digest(pool)[:32],
        "kubernetes.azure.com/kubelet-identity-client-id": "0e1d2c3b-4a59-4687-a5b4-c3d2e1f0a9b8",
        "kubernetes.azure.com/mode": mode,
        "kubernetes.azure.com/node-image-version": "AKSUbuntu-2204gen2containerd-202508.20.1",
        "kubernetes.azure.com/nodepool-type": "VirtualMachineScaleSets",
        "kubernetes.azure.com/os-sku": "Ubuntu",
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/storageprofile": "managed",
        "kubernetes.azure.com/storagetier": "Premium_LRS",
        "failure-domain.beta.kubernetes.io/region": "westeurope",
        "failure-domain.beta.kubernetes.io/zone": zone,
        "node.kubernetes.io/instance-type": size,
        "beta.kubernetes.io/instance-type": size,
        "storageprofile": "managed",
        "storagetier": "Premium_LRS",
        "topology.disk.csi.azure.com/zone": zone,
        "topology.kubernetes.io/region": "westeurope",
        "topology.kubernetes.io/zone": zone,
    }  # fmt: skip
    all_taints = list(taints)
    if spot:
        labels["kubernetes.azure.com/scalesetpriority"] = "spot"
        all_taints.insert(0, ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule"))
    if gpus:
        labels |= {"kubernetes.azure.com/accelerator": "nvidia", "accelerator": "nvidia"}
    return node(
        name,
        labels,
        provider_id=(
            "azure:///subscriptions/5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9/resourceGroups/"
            f"mc_ml-rg_ml-aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/"
            f"aks-{pool}-38410562-vmss/virtualMachines/{index}"
        ),
        taints=all_taints,
        extended={GPU: str(gpus)} if gpus else None,
        kubelet="v1.33.2",
        os_image="Ubuntu 22.04.5 LTS",
    )


def aks_cluster(per_pool: int = 2) -> list[Doc]:
    return [aks_node(p, i) for p in AKS_POOLS for i in range(per_pool)]


# --- Karpenter v1 on EKS: policies/examples/karpenter --------------------------------------------


def karpenter_nodepool(
    name: str,
    capacity_types: Sequence[str],
    *,
    families: Sequence[str] = (),
    taints: Sequence[tuple[str, str, str]] = (),
    labels: Mapping[str, str] | None = None,
) -> Doc:
    """A `karpenter.sh/v1` NodePool as concepts/nodepools.md writes one."""
    requirements = [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(capacity_types)},
    ]
    if families:
        requirements.append(
            {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": list(families)}
        )
    else:
        requirements.append(
            {
                "key": "karpenter.k8s.aws/instance-category",
                "operator": "In",
                "values": ["c", "m", "r"],
            }
        )
    spec: Doc = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
        "requirements": requirements,
        "expireAfter": "720h",
        "startupTaints": [_taint(("node.cilium.io/agent-not-ready", "true", "NoExecute"))],
    }  # fmt: skip
    if taints:
        spec["taints"] = [_taint(t) for t in taints]
    template: Doc = {"spec": spec}
    if labels:
        template["metadata"] = {"labels": dict(labels)}
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
            "resourceVersion": "88231",
            "generation": 1,
            "creationTimestamp": CREATED,
            "annotations": {
                "karpenter.sh/nodepool-hash": "6821555240504281154",
                "karpenter.sh/nodepool-hash-version": "v3",
            },
        },
        "spec": {
            "template": template,
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": "1m",
            },
            "limits": {"cpu": "1000", "memory": "1000Gi"},
        },
        "status": {"resources": {"cpu": "0", "nodes": "0"}},
    }


def karpenter_node(nodepool: str, capacity: str, index: int, instance: str, gpus: int = 0) -> Doc:
    family, size = instance.split(".")
    name = f"ip-192-168-{40 + index}-{17 + len(nodepool)}.ec2.internal"
    labels = {
        "karpenter.sh/nodepool": nodepool,
        "karpenter.sh/capacity-type": capacity,
        "karpenter.sh/initialized": "true",
        "karpenter.sh/registered": "true",
        "karpenter.k8s.aws/ec2nodeclass": "default",
        "karpenter.k8s.aws/instance-category": family[0],
        "karpenter.k8s.aws/instance-family": family,
        "karpenter.k8s.aws/instance-generation": "".join(c for c in family if c.isdigit())[:1],
        "karpenter.k8s.aws/instance-hypervisor": "nitro",
        "karpenter.k8s.aws/instance-size": size,
        "node.kubernetes.io/instance-type": instance,
        "topology.k8s.aws/zone-id": "use1-az1",
        "topology.kubernetes.io/region": "us-east-1",
        "topology.kubernetes.io/zone": "us-east-1a",
    }
    taints: list[tuple[str, str, str]] = []
    if gpus:
        labels |= {
            "karpenter.k8s.aws/instance-gpu-count": str(gpus),
            "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
            "karpenter.k8s.aws/instance-gpu-name": "a10g",
        }
        taints.append((GPU, "true", "NoSchedule"))
    return node(
        name,
        labels,
        provider_id=f"aws:///us-east-1a/i-0{hashlib.sha256(name.encode()).hexdigest()[:16]}",
        taints=taints,
        extended={GPU: str(gpus)} if gpus else None,
    )


def karpenter_cluster() -> tuple[list[Doc], list[Doc]]:
    """Nodes (general has spot and on-demand nodes; the gpu NodePool is scaled to zero) and the
    NodePools; Karpenter itself runs on a small managed node group."""
    nodepools = [
        karpenter_nodepool("general", ["spot", "on-demand"]),
        karpenter_nodepool(
            "gpu",
            ["spot", "on-demand"],
            families=["g5", "g6", "p4d"],
            taints=[(GPU, "true", "NoSchedule")],
        ),
    ]
    nodes = [
        karpenter_node("general", "spot", 0, "m6i.2xlarge"),
        karpenter_node("general", "spot", 1, "c6a.4xlarge"),
        karpenter_node("general", "on-demand", 2, "r6i.xlarge"),
        *[
            node(
                f"ip-10-0-0-{5 + i}.ec2.internal",
                {
                    "eks.amazonaws.com/capacityType": "ON_DEMAND",
                    "eks.amazonaws.com/nodegroup": "karpenter",
                    "node.kubernetes.io/instance-type": "m6i.large",
                    "topology.kubernetes.io/zone": "us-east-1a",
                },
                provider_id=f"aws:///us-east-1a/i-0abc{i}",
                taints=[("CriticalAddonsOnly", "true", "NoSchedule")],
            )
            for i in range(2)
        ],
    ]
    return nodes, nodepools
