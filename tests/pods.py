"""Small builders for the pods and policy sets the tests use, and one checked way to mutate.

A table row should read as the pod it describes: `pod(gpu(), labels=ARGO)` is an Argo step
asking for a GPU. `mutated()` runs the engine and checks what every row must satisfy: the patch
applies identically with kubectl and jsonpatch, the result is a valid Pod, nothing the user wrote
changed, and a second pass (the apiserver reinvokes webhooks) adds nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import yaml

from tests.kube import apply_both, validate_pod
from webhook.engine import CompiledPolicySet, Result, compile_policy_set, mutate
from webhook.policy.load import load_policy_set, parse_policy_set

Doc = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
SHIPPED_POLICIES = REPO / "policies"
API_VERSION = "pod-placement-webhook/v1"
PROVENANCE = "pod-placement-webhook/policies"

# --- containers ----------------------------------------------------------------------------


def container(
    name: str = "main",
    requests: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Doc:
    out: Doc = {"name": name, "image": "registry.example.com/app:1", **extra}
    resources: Doc = {}
    if requests is not None:
        resources["requests"] = dict(requests)
    if limits is not None:
        resources["limits"] = dict(limits)
    if resources:
        out["resources"] = resources
    return out


def cpu(name: str = "cpu") -> Doc:
    return container(name, requests={"cpu": "2"})


def mem(name: str = "mem") -> Doc:
    return container(name, requests={"memory": "2048"})


def gpu(name: str = "main", count: str = "1") -> Doc:
    """A container asking for NVIDIA GPUs the way users write it: a limit only."""
    return container(name, limits={"nvidia.com/gpu": count})


def requesting(*names: str, name: str = "main") -> Doc:
    return container(name, requests={n: "1" for n in names})


# --- owners and workload signatures (what each controller sets at CREATE) ------------------


def owner(kind: str, api_version: str, name: str = "owner", controller: bool = True) -> Doc:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": "00000000-0000-0000-0000-000000000001",
        "controller": controller,
    }


WORKFLOW = owner("Workflow", "argoproj.io/v1alpha1", "train-abc")
JOB = owner("Job", "batch/v1", "nightly")
STATEFULSET = owner("StatefulSet", "apps/v1", "db")
REPLICASET = owner("ReplicaSet", "apps/v1", "web-5d8f")
DAEMONSET = owner("DaemonSet", "apps/v1", "node-exporter")
NODE = owner("Node", "v1", "ip-10-0-0-1")

ARGO_LABELS = {
    "workflows.argoproj.io/workflow": "train-abc",
    "workflows.argoproj.io/completed": "false",
}
KFP_LABELS = {
    **ARGO_LABELS,
    "pipeline/runid": "7b7c9b5e-1d2a-4c1e-9f8e-0a1b2c3d4e5f",
    "pipelines.kubeflow.org/v2_component": "true",
}
MIRROR_ANNOTATIONS = {"kubernetes.io/config.mirror": "5b1c3f0e9d2a4b6c8e7f1a2b3c4d5e6f"}
NO_EVICT = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}

# --- pods ----------------------------------------------------------------------------------


def pod(
    *containers: Doc,
    init: Sequence[Doc] = (),
    name: str | None = "p",
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    owners: Sequence[Doc] = (),
    tolerations: Sequence[Mapping[str, Any]] | None = None,
    node_selector: Mapping[str, str] | None = None,
    affinity: Mapping[str, Any] | None = None,
    dns_options: Sequence[Mapping[str, Any]] | None = None,
    **spec: Any,
) -> Doc:
    """A Pod manifest; no containers given means one plain container (a Pod needs one)."""
    metadata: Doc = {}
    if name is not None:
        metadata["name"] = name
    else:
        metadata["generateName"] = "p-"
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = dict(labels)
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    if owners:
        metadata["ownerReferences"] = [dict(o) for o in owners]
    body: Doc = {"containers": list(containers) or [container()]}
    if init:
        body["initContainers"] = list(init)
    if tolerations is not None:
        body["tolerations"] = [dict(t) for t in tolerations]
    if node_selector is not None:
        body["nodeSelector"] = dict(node_selector)
    if affinity is not None:
        body["affinity"] = copy.deepcopy(dict(affinity))
    if dns_options is not None:
        body["dnsConfig"] = {"options": [dict(o) for o in dns_options]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def required_terms(*terms: Sequence[Mapping[str, Any]]) -> Doc:
    """An affinity whose required nodeSelectorTerms hold these expression lists."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [dict(e) for e in t]} for t in terms]
            }
        }
    }


def expr(key: str, operator: str = "In", *values: str) -> Doc:
    out: Doc = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def toleration(key: str = "", operator: str = "Exists", effect: str = "", value: str = "") -> Doc:
    out: Doc = {"operator": operator}
    if key:
        out = {"key": key, **out}
    if value:
        out["value"] = value
    if effect:
        out["effect"] = effect
    return out


# --- reading a mutated pod ------------------------------------------------------------------


def spec_of(pod_doc: Mapping[str, Any]) -> Doc:
    return dict(pod_doc.get("spec") or {})


def tolerations_of(pod_doc: Mapping[str, Any]) -> list[Doc]:
    return list(spec_of(pod_doc).get("tolerations") or [])


def required_terms_of(pod_doc: Mapping[str, Any]) -> list[list[Doc]]:
    """The matchExpressions of each required nodeSelectorTerm."""
    node = (spec_of(pod_doc).get("affinity") or {}).get("nodeAffinity") or {}
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return [list(t.get("matchExpressions") or []) for t in required.get("nodeSelectorTerms") or []]


def preferred_node_of(pod_doc: Mapping[str, Any]) -> list[Doc]:
    node = (spec_of(pod_doc).get("affinity") or {}).get("nodeAffinity") or {}
    return list(node.get("preferredDuringSchedulingIgnoredDuringExecution") or [])


def preferred_pod_affinity_of(pod_doc: Mapping[str, Any]) -> list[Doc]:
    pod_affinity = (spec_of(pod_doc).get("affinity") or {}).get("podAffinity") or {}
    return list(pod_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or [])


def dns_options_of(pod_doc: Mapping[str, Any]) -> list[Doc]:
    return list((spec_of(pod_doc).get("dnsConfig") or {}).get("options") or [])


def annotations_of(pod_doc: Mapping[str, Any]) -> Doc:
    return dict((pod_doc.get("metadata") or {}).get("annotations") or {})


def labels_of(pod_doc: Mapping[str, Any]) -> Doc:
    return dict((pod_doc.get("metadata") or {}).get("labels") or {})


# --- policies -------------------------------------------------------------------------------


def policy(
    name: str,
    add: Mapping[str, Any],
    match: Mapping[str, Any] | None = None,
    order: int = 100,
    mode: str | None = None,
    exclude: Sequence[Mapping[str, Any]] = (),
) -> Doc:
    spec: Doc = {"order": order, "add": dict(add)}
    if match:
        spec["match"] = dict(match)
    if mode:
        spec["mode"] = mode
    if exclude:
        spec["exclude"] = [dict(e) for e in exclude]
    return {
        "apiVersion": API_VERSION,
        "kind": "PlacementPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def node_pool(
    name: str,
    labels: Mapping[str, str],
    capacity: str = "on-demand",
    taints: Sequence[Mapping[str, str]] = (),
    extended: Sequence[str] = (),
) -> Doc:
    spec: Doc = {"capacityType": capacity, "nodeLabels": dict(labels)}
    if taints:
        spec["nodeTaints"] = [dict(t) for t in taints]
    if extended:
        spec["extendedResources"] = list(extended)
    return {"apiVersion": API_VERSION, "kind": "NodePool", "metadata": {"name": name}, "spec": spec}


def settings(**spec: Any) -> Doc:
    return {"apiVersion": API_VERSION, "kind": "PolicySettings", "spec": spec}


def compiled(*docs: Mapping[str, Any]) -> CompiledPolicySet:
    """A compiled policy set from policy documents, through the same loader as files."""
    text = yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False)
    return compile_policy_set(parse_policy_set([("test.yaml", text.encode())]))


@cache
def shipped() -> CompiledPolicySet:
    """The default set `serve` runs (policies/, packaged as webhook/defaults)."""
    return compile_policy_set(load_policy_set(SHIPPED_POLICIES))


# --- the checked mutation -------------------------------------------------------------------


def plain(value: Any) -> Any:
    """JSON data only (the engine may hand back tuples or mappings)."""
    return orjson.loads(orjson.dumps(value))


def is_subdocument(
    original: Any, result: Any, where: str = "", null_may_go: bool = False
) -> str | None:
    """None when `result` keeps every value of `original`, else where it does not.

    Maps may gain keys; lists may gain items at the end (the webhook only appends) and keep
    each original item as a sub-document (a nodeSelectorTerm gains expressions); scalars are
    equal, with their type. A null is an unset field (the apiserver drops it), so it may be
    filled in; with `null_may_go` a key whose value is null may also be absent from `result`.
    """
    if original is None:
        return None
    if isinstance(original, Mapping):
        if not isinstance(result, Mapping):
            return f"{where or '/'}: a map became {type(result).__name__}"
        for key, value in original.items():
            if key not in result:
                if null_may_go and value is None:
                    continue
                return f"{where}/{key}: removed"
            found = is_subdocument(value, result[key], f"{where}/{key}", null_may_go)
            if found:
                return found
        return None
    if isinstance(original, list):
        if not isinstance(result, list) or len(result) < len(original):
            return f"{where}: list shortened or replaced"
        for index, item in enumerate(original):
            found = is_subdocument(item, result[index], f"{where}/{index}", null_may_go)
            if found:
                return found
        return None
    if type(original) is not type(result) or original != result:
        return f"{where}: {original!r} became {result!r}"
    return None


def _same_expression(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (a.get("key"), a.get("operator"), sorted(a.get("values") or [])) == (
        b.get("key"),
        b.get("operator"),
        sorted(b.get("values") or []),
    )


def unapplied(result: Result, after: Mapping[str, Any]) -> str | None:
    """None when every addition of every applied policy is in the patched pod, else the first
    one that is not (say, a whole-map add that a later op of the same patch overwrote)."""
    for outcome in result.outcomes:
        if outcome.name not in result.applied:
            continue
        adds = plain(outcome.additions.as_dict())
        present: dict[str, Any] = {
            "tolerations": tolerations_of(after),
            "nodeAffinity.preferred": preferred_node_of(after),
            "podAffinity.preferred": preferred_pod_affinity_of(after),
            "dnsConfig.options": dns_options_of(after),
            "topologySpreadConstraints": list(
                spec_of(after).get("topologySpreadConstraints") or []
            ),
        }
        for part, items in adds.items():
            if part in present:
                missing = [i for i in items if i not in present[part]]
            elif part == "nodeAffinity.required":
                terms = required_terms_of(after)
                missing = [
                    e
                    for e in items
                    if not terms
                    or not all(any(_same_expression(e, t) for t in term) for term in terms)
                ]
            else:
                have = annotations_of(after) if part == "annotations" else labels_of(after)
                missing = [k for k, v in items.items() if have.get(k) != v]
            if missing:
                return f"policy {outcome.name}: {part} {missing} not in the patched pod"
    return None


def mutated(
    policies: CompiledPolicySet,
    pod_doc: Mapping[str, Any],
    namespace: str = "default",
    namespace_labels: Mapping[str, str] | None = None,
    validate: bool = True,
) -> tuple[Result, Doc]:
    """Mutate `pod_doc` and check the patch the way the apiserver would use it: kubectl and
    jsonpatch agree, the Pod is valid, the user's fields are intact, every addition the engine
    reports is in the pod, and a second pass adds nothing.

    Returns the engine's result and the pod as kubectl patched it.
    """
    original = plain(pod_doc)
    result = mutate(policies, original, namespace, namespace_labels)
    assert original == plain(pod_doc), "the engine changed its input"
    after = apply_both(original, plain(result.ops))
    assert after == plain(result.pod), "the engine's own view differs from the patched pod"
    if validate:
        validate_pod(after)
    # The provenance annotation is the webhook's own: a later pass may extend its list.
    own_key = policies.settings.annotation_key
    user_set = copy.deepcopy(original)
    own_annotations = (user_set.get("metadata") or {}).get("annotations")
    if isinstance(own_annotations, dict):
        own_annotations.pop(own_key, None)
    lost = is_subdocument(user_set, after)
    assert lost is None, f"a field the user set changed: {lost}"
    dropped = unapplied(result, after)
    assert dropped is None, dropped
    again = mutate(policies, after, namespace, namespace_labels)
    assert again.ops == [], f"a second pass is not a no-op: {again.ops}"
    return result, after
