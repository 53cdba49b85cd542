"""A pod read back from a cluster, as it was when it was created: what the webhook would have
been sent.

kube-apiserver and the components after it set fields a pod never had at admission; kept, they
would make every pod look placed already (`spec.nodeName`: the scheduler bound it). Dropped:
- `spec.nodeName`, which the scheduler's binding sets (`pods/binding`) unless the pod was
  created with it: a manager's own entry in `managedFields` lists it then (static pods' mirror
  pods are created bound by the kubelet, and keep it);
- `status` (the kubelet), `spec.ephemeralContainers` (added later, `pods/ephemeralcontainers`);
- what the registry sets after admission: `metadata.uid`, `resourceVersion`,
  `creationTimestamp`, `generation`, `managedFields`, `selfLink`, deletion fields, and the
  name generated from `generateName` (staging/src/k8s.io/apiserver/pkg/registry/rest/create.go
  `BeforeCreate`, run once admission is done).
Kept: everything admission plugins set before mutating webhooks run (the DefaultTolerationSeconds
tolerations, priority, the service account's token volume, the ExtendedResourceToleration
tolerations), and what defaulting set at decoding (requests copied from limits).

Not recoverable from a live pod: scheduling gates removed since (Kueue removes its own, and adds
its ResourceFlavor's nodeSelector, when it admits a workload), finalizers a controller removed,
annotations added after creation, fields a mutating webhook added at creation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from webhook.kube.pod import MIRROR_ANNOTATION

SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
AFTER_ADMISSION_SPEC = ("nodeName", "ephemeralContainers")
MAX_GENERATED_PREFIX = 58  # names.MaxGeneratedNameLength
_RANDOM = "[bcdfghjklmnpqrstvwxz2456789]{5}"  # utilrand's alphabet, no vowels or look-alikes


def read_back(pod: Mapping[str, Any]) -> bool:
    """Whether the pod was read from a cluster (the apiserver set its uid, resourceVersion or
    creationTimestamp, or it has a status), rather than written as a manifest."""
    meta = _map(pod.get("metadata"))
    return "status" in pod or any(meta.get(k) for k in SERVER_SET_METADATA[:3])


def as_created(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod as admission saw it; a manifest is returned as it is (a shallow copy)."""
    if not read_back(pod):
        return dict(pod)
    meta = _map(pod.get("metadata"))
    spec = _map(pod.get("spec"))
    kept_meta = {k: v for k, v in meta.items() if k not in SERVER_SET_METADATA}
    if generated_name(meta):
        kept_meta.pop("name", None)
    kept_spec = {k: v for k, v in spec.items() if k not in AFTER_ADMISSION_SPEC}
    if spec.get("nodeName") and created_bound(meta):
        kept_spec["nodeName"] = spec["nodeName"]
    out = {k: v for k, v in pod.items() if k != "status"}
    out["metadata"], out["spec"] = kept_meta, kept_spec
    return out


def generated_name(meta: Mapping[str, Any]) -> bool:
    """Whether the registry made the name from `generateName`: its first 58 characters and five
    random ones (apiserver `names.SimpleNameGenerator`, `utilrand.String(5)`). A StatefulSet's
    pod has both fields and a name of its own (`web-0`), which it had at admission."""
    generate, name = meta.get("generateName"), meta.get("name")
    if not isinstance(generate, str) or not generate or not isinstance(name, str):
        return False
    return re.fullmatch(re.escape(generate[:MAX_GENERATED_PREFIX]) + _RANDOM, name) is not None


def created_bound(meta: Mapping[str, Any]) -> bool:
    """Whether the pod had `spec.nodeName` when it was created: a mirror pod (the kubelet
    creates it bound), or a pod a manager's own entry says it was written with it."""
    if MIRROR_ANNOTATION in _map(meta.get("annotations")):
        return True
    entries = meta.get("managedFields")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or entry.get("subresource"):
            continue  # status and binding-like subresources are not the creator's fields
        spec = _map(_map(entry.get("fieldsV1")).get("f:spec"))
        if "f:nodeName" in spec:
            return True
    return False


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
