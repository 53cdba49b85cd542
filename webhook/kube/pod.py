"""Read-only accessors on a raw Pod dict, as it arrived in the AdmissionReview.

The pod is never decoded into a typed model: a typed round-trip drops fields this code does not
know about. Every accessor tolerates missing keys, nulls and wrong types, because the apiserver
sends what the client wrote (defaulted), and a webhook bug must not block a pod.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeGuard

Pod = Mapping[str, Any]

# Tolerations the apiserver adds by itself (DefaultTolerationSeconds): they say nothing about
# where the pod's author wanted it to run.
_DEFAULT_TOLERATION_KEYS = frozenset(
    {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
)


def _map(value: Any) -> Mapping[str, Any]:
    # A decoded review holds plain dicts, or nothing: these exact tests skip the slower ABC
    # check on the request path.
    if type(value) is dict:
        return value
    return value if value is not None and isinstance(value, Mapping) else {}


def _is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def metadata(pod: Pod) -> Mapping[str, Any]:
    return _map(pod.get("metadata"))


def spec(pod: Pod) -> Mapping[str, Any]:
    return _map(pod.get("spec"))


def labels_of(pod: Pod) -> Mapping[str, Any]:
    return _map(metadata(pod).get("labels"))


def annotations_of(pod: Pod) -> Mapping[str, Any]:
    return _map(metadata(pod).get("annotations"))


DISPLAY_NAME_CHARS = 253  # a valid name is never longer; a bigger one is cut for logs


def display_name(pod: Pod) -> str:
    meta = metadata(pod)
    name = str(meta.get("name") or meta.get("generateName") or "")
    return name if len(name) <= DISPLAY_NAME_CHARS else name[:DISPLAY_NAME_CHARS] + "..."


def controller_owner(pod: Pod) -> Mapping[str, Any] | None:
    for ref in _list(metadata(pod).get("ownerReferences")):
        if _is_map(ref) and ref.get("controller") is True:
            return ref
    return None


def owner_kind_names(pod: Pod) -> tuple[str, str]:
    """(`Kind`, `group/Kind`) of the controller owner, or empty strings."""
    ref = controller_owner(pod)
    if ref is None:
        return "", ""
    kind = str(ref.get("kind") or "")
    group = str(ref.get("apiVersion") or "").rpartition("/")[0]
    return kind, f"{group}/{kind}" if group else kind


def containers(pod: Pod) -> list[Mapping[str, Any]]:
    """Containers and init containers (sidecars included); ephemeral containers are not."""
    s = spec(pod)
    return [c for key in ("containers", "initContainers") for c in _list(s.get(key)) if _is_map(c)]


def requested_resources(pod: Pod) -> set[str]:
    """Names in any container's requests or limits.

    Pod defaulting copies each limit into requests before admission, so the apiserver's
    ExtendedResourceToleration (which reads requests) sees a limit-only resource too; reading
    both gives the same answer on an undefaulted pod (`placement-webhook mutate`).
    """
    names: set[Any] = set()
    for container in containers(pod):
        # Read on every review: the `type(...) is dict` tests skip a call for decoded JSON.
        resources = container.get("resources")
        if type(resources) is not dict:
            resources = _map(resources)
        for key in ("requests", "limits"):
            part = resources.get(key)
            if part:
                names.update(part if type(part) is dict else _map(part))
    return {n for n in names if type(n) is str}


def tolerations(pod: Pod) -> list[Mapping[str, Any]]:
    return [t for t in _list(spec(pod).get("tolerations")) if type(t) is dict or _is_map(t)]


def node_affinity(pod: Pod) -> Mapping[str, Any]:
    return _map(_map(spec(pod).get("affinity")).get("nodeAffinity"))


def node_selector_terms(pod: Pod) -> list[Any]:
    """The required nodeSelectorTerms as they are, entries of any type included."""
    required = _map(node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution"))
    return _list(required.get("nodeSelectorTerms"))


def required_node_terms(pod: Pod) -> list[Mapping[str, Any]]:
    return [t for t in node_selector_terms(pod) if _is_map(t)]


def preferred_node_terms(pod: Pod) -> list[Mapping[str, Any]]:
    preferred = node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution")
    return [t for t in _list(preferred) if _is_map(t)]


def preferred_pod_affinity_terms(pod: Pod) -> list[Mapping[str, Any]]:
    pod_affinity = _map(_map(spec(pod).get("affinity")).get("podAffinity"))
    preferred = pod_affinity.get("preferredDuringSchedulingIgnoredDuringExecution")
    return [t for t in _list(preferred) if _is_map(t)]


def node_selector(pod: Pod) -> Mapping[str, Any]:
    return _map(spec(pod).get("nodeSelector"))


def dns_options(pod: Pod) -> list[Mapping[str, Any]]:
    config = _map(spec(pod).get("dnsConfig"))
    return [o for o in _list(config.get("options")) if _is_map(o)]


MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
NODE_AFFINITY = ("spec", "affinity", "nodeAffinity")
POD_AFFINITY = ("spec", "affinity", "podAffinity")


HOSTNAME_LABEL = "kubernetes.io/hostname"


def never_placed(owner_kind: str, annotations: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """Why no placement at all may be added to the pod ("" when it may): the DaemonSet
    controller pins each pod with a matchFields term on `metadata.name`
    (pkg/controller/daemon/util) and a pool requirement on top leaves it unschedulable; mirror
    pods are static pods the kubelet reports; `nodeName` set at creation bypasses the
    scheduler."""
    if owner_kind in ("DaemonSet", "Node") or MIRROR_ANNOTATION in annotations:
        return "a DaemonSet or static pod"
    if spec.get("nodeName"):
        return "bound by nodeName"
    return ""


def bound_to(spec: Mapping[str, Any]) -> str:
    """Why nothing that chooses nodes may be added to the pod ("" when it may): it names its
    node, or runs where other pods run, and a pool requirement added on top contradicts its
    node or its peer (the pod stays Pending). A required `matchFields: metadata.name` term or
    a `kubernetes.io/hostname` requirement (nodeSelector or a required term) names nodes, not
    a pool; a required podAffinity runs the pod where its peers run (InterPodAffinity)."""
    if HOSTNAME_LABEL in _map(spec.get("nodeSelector")):
        return f"pinned to a node by nodeSelector {HOSTNAME_LABEL}"
    affinity = _map(spec.get("affinity"))
    required = _map(_map(affinity.get("nodeAffinity")).get(_REQUIRED))
    for term in _list(required.get("nodeSelectorTerms")):
        if not _is_map(term):
            continue
        if _list(term.get("matchFields")):
            return "pinned to a node by matchFields"
        for expr in _list(term.get("matchExpressions")):
            if _is_map(expr) and expr.get("key") == HOSTNAME_LABEL:
                return f"pinned to a node by required affinity on {HOSTNAME_LABEL}"
    if _list(_map(affinity.get("podAffinity")).get(_REQUIRED)):
        return "bound to other pods by required podAffinity"
    return ""


# Node labels that describe the node's platform, not a pool: Helm charts and controllers (Argo's
# own, for one) set `nodeSelector: {kubernetes.io/os: linux}` on every pod. The beta keys are
# the deprecated spellings (kubernetes/website labels-annotations-taints).
PLATFORM_LABEL_KEYS = (
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
)
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def has_own_placement(
    pod: Pod, extended: set[str], platform_keys: Collection[str] = PLATFORM_LABEL_KEYS
) -> bool:
    """Whether the pod's author chose where it runs, when the set declares no pools: a
    required choice (`required_choice`), a preferred node-affinity term that names more than
    the node's platform, or a toleration of its own (`own_tolerations`). With pools declared,
    tolerations and preferences count only where they select one (`webhook.kube.choice`)."""
    if required_choice(pod, platform_keys) or own_tolerations(pod, extended):
        return True
    preferred = node_affinity(pod).get(_PREFERRED)
    return preferred is not None and not _platform_only_preferred(preferred, platform_keys)


def required_choice(pod: Pod, platform_keys: Collection[str] = PLATFORM_LABEL_KEYS) -> bool:
    """A nodeName, or a nodeSelector or required node affinity that names more than the
    node's platform: Helm charts set `nodeSelector: {kubernetes.io/os: linux}` on every pod,
    which chooses no pool. Anything else in the node affinity (a field this does not know,
    matchFields, an empty or malformed term) counts as a choice of nodes."""
    s = spec(pod)
    if s.get("nodeName"):
        return True
    selector = _map(s.get("nodeSelector"))
    if selector and any(key not in platform_keys for key in selector):
        return True
    for field, value in node_affinity(pod).items():
        if value is None or field == _PREFERRED:
            continue
        if field != _REQUIRED:
            return True
        terms = value.get("nodeSelectorTerms") if _is_map(value) else None
        if not isinstance(terms, list) or not terms:
            return True
        if not all(_platform_only_term(t, platform_keys) for t in terms):
            return True
    return False


def own_tolerations(pod: Pod, extended: Collection[str]) -> list[Mapping[str, Any]]:
    """The tolerations the pod's author wrote: not DefaultTolerationSeconds' not-ready and
    unreachable NoExecute ones, nor one keyed on an extended resource the pod requests
    (`extended`), which the in-tree ExtendedResourceToleration plugin adds before any webhook
    runs."""
    own = []
    for tol in tolerations(pod):
        key = tol.get("key")
        if key in extended:
            continue
        if key in _DEFAULT_TOLERATION_KEYS and tol.get("effect") == "NoExecute":
            continue
        own.append(tol)
    return own


def _platform_only_preferred(value: Any, keys: Collection[str]) -> bool:
    return isinstance(value, list) and all(
        _is_map(p) and _platform_only_term(p.get("preference"), keys) for p in value
    )


def _platform_only_term(term: Any, keys: Collection[str]) -> bool:
    if not _is_map(term) or term.get("matchFields"):
        return False
    expressions = term.get("matchExpressions")
    return (
        isinstance(expressions, list)
        and bool(expressions)
        and all(_is_map(e) and e.get("key") in keys for e in expressions)
    )


def scheduling_gates(pod: Pod) -> list[Any]:
    """The names of `spec.schedulingGates` (a gated pod is not scheduled until each is removed)."""
    gates = spec(pod).get("schedulingGates")
    if not gates:
        return []
    return [g.get("name") for g in _list(gates) if _is_map(g)]


def mounts_claim(pod: Pod) -> bool:
    """Whether a volume of the pod is a PersistentVolumeClaim (generic ephemeral volumes, whose
    claim lives and dies with the pod, are not)."""
    for volume in _list(spec(pod).get("volumes")):
        if _is_map(volume) and volume.get("persistentVolumeClaim"):
            return True
    return False


def image_repository(image: Any) -> str:
    """The last path segment of an image reference, without tag or digest:
    `docker.io/bitnami/postgresql:16.4.0@sha256:...` -> `postgresql`; a registry's port
    (`localhost:5000/redis`) stays in the part before the last `/`."""
    if type(image) is not str:
        return ""
    return image.partition("@")[0].rpartition("/")[2].partition(":")[0]


def main_images(pod: Pod) -> list[str]:
    """The image repositories (see `image_repository`) of the pod's containers, init
    containers left out: a `wait-for-postgres` init container does not make a data store."""
    return [
        image_repository(c.get("image")) for c in _list(spec(pod).get("containers")) if _is_map(c)
    ]


def restarts_always(pod: Pod) -> bool:
    """`restartPolicy: Always` (the default): a server, not a run to completion. Job, workflow
    and operator pods run with `Never` or `OnFailure`."""
    return spec(pod).get("restartPolicy") in (None, "Always")
