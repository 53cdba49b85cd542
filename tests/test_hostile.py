"""Hostile and unusual content in well-formed AdmissionReviews, each with the answer it must get.

Every pod CREATE here must be answered 200 + allowed, with a patch that kubectl (the apiserver's
JSON Patch code) and jsonpatch apply identically, that keeps every field the user set, and that
a second pass does not repeat. Reviews that are not a pod CREATE must be allowed unchanged. The
policies are the shipped set plus one using every mutation (tests/reviews.py), so every patch
builder meets every case. Body-level refusals (413, 400, 408) are in test_limits.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.kube import apply_both, jsonpatch_apply, validate_pod
from tests.pod_schema import every_field
from tests.reviews import (
    SHIPPED,
    UID,
    AppClient,
    app_client,
    check_response,
    every_mutation_dir,
    gpu_pod,
    internal_errors,
    kept,
    patch_of,
    review,
)

Pod = dict[str, Any]
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
POOL_TOLERATION = {
    "key": "example.com/pool",
    "operator": "Equal",
    "value": "a",
    "effect": "NoSchedule",
}
PROVENANCE = "pod-placement-webhook/policies"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppClient]:
    policies = [SHIPPED, every_mutation_dir(tmp_path_factory.mktemp("hostile"))]
    with app_client(policies) as c:
        yield c


def admitted(
    client: AppClient,
    pod: Any,
    validate: bool = True,
    policy_errors: bool = False,
    **review_args: Any,
) -> tuple[dict[str, Any], Pod]:
    """Send a pod CREATE; check the invariants; return (response, patched pod).

    The every-mutation policy matches every pod, so every pod here gets a patch that names it;
    no policy may fail on the pod unless `policy_errors` says one is expected to."""
    uid = review_args.get("uid", UID)
    r = client.post("/mutate", json=review(pod, **review_args))
    assert r.status_code == 200, r.text
    answer = r.json()
    check_response(answer["response"], uid, patched=True, policy_errors=policy_errors)
    after = apply_both(pod, patch_of(answer))
    if validate:
        validate_pod(after)
    if not policy_errors:
        assert "every-mutation" in after["metadata"]["annotations"][PROVENANCE].split(",")
    lost = kept(pod, after)
    assert lost is None, f"a field the user set changed: {lost}"
    again = client.post("/mutate", json=review(after, **review_args)).json()["response"]
    check_response(again, uid, patched=False, policy_errors=policy_errors)
    return answer["response"], after


def spec_of(pod: Pod) -> Pod:
    spec: Pod = pod["spec"]
    return spec


# --- keys that need escaping, unicode ------------------------------------------------------


HOSTILE_KEYS = {
    "example.com/with-slash": "a",
    "tilde~key": "b",
    "~0": "c",
    "~1": "d",
    "a/b~c/d": "e",
    "ключ/значение": "f",
    "😀": "g",
    "": "empty key",
    "pod-placement-webhook~1policies": "looks escaped",
}


def test_label_and_annotation_keys_with_slash_tilde_and_unicode_are_kept(
    client: AppClient,
) -> None:
    pod = gpu_pod()
    pod["metadata"]["labels"].update(HOSTILE_KEYS)
    pod["metadata"]["annotations"] = dict(HOSTILE_KEYS)
    response, after = admitted(client, pod)
    for key, value in HOSTILE_KEYS.items():
        assert after["metadata"]["labels"][key] == value
        assert after["metadata"]["annotations"][key] == value
    # Our own key, escaped as ~1, went next to the pod's literal "~1" look-alike.
    assert after["metadata"]["annotations"][PROVENANCE] == response["auditAnnotations"]["policies"]
    assert after["metadata"]["labels"]["example.com/pool"] == "a"


def test_node_selector_text_copied_into_the_patch_keeps_every_character(
    client: AppClient,
) -> None:
    """mirrorNodeSelector copies the pod's own keys and values into the patch: characters
    beyond the BMP, DEL, C1 controls and NEL must reach the apiserver unchanged."""
    pod = gpu_pod()
    selector = {"example.com/😀": "v\x7f\x85\x9f", "zone": "\U00066778\ufffe", "a/b~c": "~1"}
    spec_of(pod)["nodeSelector"] = selector
    _, after = admitted(client, pod)
    terms = spec_of(after)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    mirrored = terms["nodeSelectorTerms"][0]["matchExpressions"]
    for key, value in selector.items():
        assert {"key": key, "operator": "In", "values": [value]} in mirrored


def test_a_provenance_annotation_already_present_is_extended_not_replaced(
    client: AppClient,
) -> None:
    pod = gpu_pod()
    pod["metadata"]["annotations"] = {PROVENANCE: "an-earlier-webhook-pass"}
    r = client.post("/mutate", json=review(pod))
    check_response(r.json()["response"])
    after = apply_both(pod, patch_of(r.json()))
    listed = after["metadata"]["annotations"][PROVENANCE].split(",")
    assert listed[0] == "an-earlier-webhook-pass"
    assert "extended-resource-tolerations" in listed


def test_a_namespace_and_uid_in_unicode_are_echoed(client: AppClient) -> None:
    admitted(client, gpu_pod(), namespace="équipe-ml", uid="üid-😀-" + "x" * 200)


# --- size ----------------------------------------------------------------------------------


def test_a_pod_with_hundreds_of_containers_gets_one_toleration_per_resource(
    client: AppClient,
) -> None:
    pod = gpu_pod()
    env = [{"name": f"VAR_{i}", "value": "x" * 20} for i in range(20)]
    spec_of(pod)["containers"] = [
        {
            "name": f"c{i}",
            "image": "i",
            "env": env,
            "resources": {"limits": {"nvidia.com/gpu": "1"}},
        }
        for i in range(300)
    ]
    spec_of(pod)["initContainers"] = [
        {"name": f"i{i}", "image": "i", "resources": {"requests": {"example.com/fpga": "1"}}}
        for i in range(100)
    ]
    _, after = admitted(client, pod)
    keys = [t["key"] for t in spec_of(after)["tolerations"] if t["effect"] == "NoSchedule"]
    assert keys.count("nvidia.com/gpu") == 1
    assert keys.count("example.com/fpga") == 1


def test_a_pod_with_thousands_of_labels_and_a_1_mib_annotation(client: AppClient) -> None:
    pod = gpu_pod()
    pod["metadata"]["labels"].update({f"example.com/l{i}": str(i) for i in range(5000)})
    pod["metadata"]["annotations"] = {"example.com/blob": "x" * (1024 * 1024)}
    admitted(client, pod)


# --- every optional field; nulls; wrong types ----------------------------------------------


def test_a_pod_with_every_optional_field_set(client: AppClient) -> None:
    pod = {**every_field(), "apiVersion": "v1", "kind": "Pod"}
    validate_pod(pod)
    assert len(json.dumps(pod)) > 10_000  # really every field, to six levels
    admitted(client, pod, namespace="ml")


NULLABLE_LISTS = [
    ("spec", "tolerations"),
    ("spec", "initContainers"),
    ("spec", "affinity"),
    ("spec", "dnsConfig"),
    ("metadata", "labels"),
    ("metadata", "annotations"),
    ("metadata", "ownerReferences"),
]


@pytest.mark.parametrize(
    ("where", "key"), NULLABLE_LISTS, ids=[f"{w}.{k} is null" for w, k in NULLABLE_LISTS]
)
def test_null_where_a_list_or_map_is_expected_is_read_as_absent(
    client: AppClient, where: str, key: str
) -> None:
    pod = gpu_pod()
    pod[where][key] = None
    _, after = admitted(client, pod)
    assert GPU_TOLERATION in spec_of(after)["tolerations"]


def test_nulls_deep_inside_affinity_dns_and_resources(client: AppClient) -> None:
    pod = gpu_pod()
    spec_of(pod)["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": None},
            "preferredDuringSchedulingIgnoredDuringExecution": None,
        },
        "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": None},
    }
    spec_of(pod)["dnsConfig"] = {"options": None, "searches": None}
    spec_of(pod)["containers"].append({"name": "side", "image": "i", "resources": None})
    spec_of(pod)["containers"].append(
        {"name": "side2", "image": "i", "resources": {"limits": None, "requests": None}}
    )
    _, after = admitted(client, pod)
    assert GPU_TOLERATION in spec_of(after)["tolerations"]


def test_a_null_term_inside_node_selector_terms_skips_one_policy_not_the_pod(
    client: AppClient,
) -> None:
    pod = gpu_pod()
    spec_of(pod)["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [None]}
        }
    }
    response, after = admitted(client, pod, validate=False, policy_errors=True)
    assert GPU_TOLERATION in spec_of(after)["tolerations"]
    assert internal_errors(response) == ["policy every-mutation skipped: internal error"]


def kubectl_reads(pod: Pod) -> bool:
    """Whether the metadata has the types kubectl's typed ObjectMeta decoding needs."""
    meta = pod.get("metadata")
    if not isinstance(meta, dict):
        return False
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    return (
        isinstance(labels, dict)
        and isinstance(annotations, dict)
        and all(isinstance(v, str) for v in [*labels.values(), *annotations.values()])
        and isinstance(meta.get("ownerReferences") or [], list)
    )


WRONG_TYPES: list[tuple[str, Callable[[Pod], None]]] = [
    ("spec is a string", lambda p: p.update(spec="a string")),
    ("metadata is a list", lambda p: p.update(metadata=[])),
    ("labels is a string", lambda p: p["metadata"].update(labels="app=x")),
    ("annotations is a number", lambda p: p["metadata"].update(annotations=7)),
    ("tolerations is a string", lambda p: p["spec"].update(tolerations="all")),
    (
        "tolerations hold null, a number and a string",
        lambda p: p["spec"].update(tolerations=[None, 5, "x"]),
    ),
    (
        "containers hold null, a number and a string",
        lambda p: p["spec"]["containers"].extend([None, 5, "x"]),
    ),
    (
        "resources limits is a list",
        lambda p: p["spec"]["containers"][0]["resources"].update(limits=["nvidia.com/gpu"]),
    ),
    ("affinity is a list", lambda p: p["spec"].update(affinity=[])),
    (
        "nodeSelector values are numbers and null",
        lambda p: p["spec"].update(nodeSelector={"ng-name": 5, "zone": None}),
    ),
    (
        "the workflow label value is a number",
        lambda p: p["metadata"]["labels"].update({"workflows.argoproj.io/workflow": 42}),
    ),
    ("ownerReferences is a map", lambda p: p["metadata"].update(ownerReferences={"kind": "Job"})),
    ("dnsConfig options is a string", lambda p: p["spec"].update(dnsConfig={"options": "ndots"})),
]


@pytest.mark.parametrize(
    "change", [c for _, c in WRONG_TYPES], ids=[name for name, _ in WRONG_TYPES]
)
def test_a_field_of_the_wrong_type_never_fails_the_review(
    client: AppClient, change: Callable[[Pod], None]
) -> None:
    """The apiserver never sends these (it decodes typed objects first), but a webhook bug
    must not block a pod: 200, allowed, and any patch still applies without touching them."""
    pod = gpu_pod()
    change(pod)
    r = client.post("/mutate", json=review(pod))
    assert r.status_code == 200
    # A policy may fail on such a field and be skipped; the review itself must not fail.
    check_response(r.json()["response"], patched=None, policy_errors=True)
    ops = patch_of(r.json())
    # kubectl decodes metadata into typed ObjectMeta and cannot read a pod whose metadata has
    # the wrong shape at all; jsonpatch alone then shows the patch applies.
    after = jsonpatch_apply(pod, ops) if not kubectl_reads(pod) else apply_both(pod, ops)
    assert kept(pod, after) is None


# --- resources as numbers or strings -------------------------------------------------------


@pytest.mark.parametrize(
    "limits",
    [
        {"nvidia.com/gpu": 1},
        {"nvidia.com/gpu": "1"},
        {"nvidia.com/gpu": 0.5},
        {"nvidia.com/gpu": "1e3"},
        {"nvidia.com/gpu": "2", "cpu": 0.5, "memory": 1073741824},
    ],
    ids=["an integer", "a string", "a float", "an exponent string", "mixed with cpu and memory"],
)
def test_resources_given_as_numbers_or_strings_get_the_toleration(
    client: AppClient, limits: dict[str, Any]
) -> None:
    pod = gpu_pod()
    spec_of(pod)["containers"][0]["resources"] = {"limits": limits, "requests": dict(limits)}
    _, after = admitted(client, pod)
    assert GPU_TOLERATION in spec_of(after)["tolerations"]
    assert spec_of(after)["containers"][0]["resources"]["limits"] == limits


# --- duplicates already present -------------------------------------------------------------


def test_duplicate_tolerations_already_present_are_kept_and_not_added_again(
    client: AppClient,
) -> None:
    pod = gpu_pod()
    same_with_empty_operator = {**POOL_TOLERATION}
    same_with_empty_operator["operator"] = ""  # upstream: empty operator means Equal
    present = [GPU_TOLERATION, dict(GPU_TOLERATION), POOL_TOLERATION, same_with_empty_operator]
    spec_of(pod)["tolerations"] = copy.deepcopy(present)
    _, after = admitted(client, pod)
    tolerations = spec_of(after)["tolerations"]
    assert tolerations[:4] == present
    assert [t for t in tolerations[4:] if t["key"] in ("nvidia.com/gpu", "example.com/pool")] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}
    ]


def test_a_toleration_with_the_same_key_but_another_effect_does_not_count(
    client: AppClient,
) -> None:
    pod = gpu_pod()
    spec_of(pod)["tolerations"] = [{**GPU_TOLERATION, "effect": "PreferNoSchedule"}]
    _, after = admitted(client, pod)
    assert GPU_TOLERATION in spec_of(after)["tolerations"]


def test_an_existing_empty_term_list_and_two_ored_terms(client: AppClient) -> None:
    empty = gpu_pod()
    spec_of(empty)["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}
        }
    }
    admitted(client, empty)
    two = gpu_pod()
    terms = [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
    ]
    spec_of(two)["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }
    _, after = admitted(client, two)
    required = spec_of(after)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    # ANDed into both ORed terms, or the pod could escape through the other one.
    for term in required["nodeSelectorTerms"]:
        assert {"key": "example.com/zone", "operator": "In", "values": ["a", "b"]} in (
            term["matchExpressions"]
        )


def test_managed_fields_and_status_sent_with_the_pod_are_kept(client: AppClient) -> None:
    pod = gpu_pod()
    pod["metadata"]["managedFields"] = [
        {
            "manager": "kubectl",
            "operation": "Update",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {}}},
        }
    ]
    pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    admitted(client, pod)


# --- which reviews are mutated at all -------------------------------------------------------


def test_a_v1beta1_review_is_answered_in_v1beta1_with_a_patch(client: AppClient) -> None:
    r = client.post("/mutate", json=review(gpu_pod(), version="v1beta1"))
    answer = r.json()
    check_response(answer["response"])
    assert answer["apiVersion"] == "admission.k8s.io/v1beta1"
    assert answer["response"]["patchType"] == "JSONPatch"
    admitted(client, gpu_pod(), version="v1beta1")


UNCHANGED: list[tuple[str, dict[str, Any]]] = [
    ("an UPDATE of a pod", {"operation": "UPDATE", "old": gpu_pod()}),
    ("a DELETE with a null object", {"operation": "DELETE", "obj": None, "old": gpu_pod()}),
    (
        "a CONNECT to pods/exec",
        {
            "operation": "CONNECT",
            "sub_resource": "exec",
            "kind": "PodExecOptions",
            "obj": {"kind": "PodExecOptions", "apiVersion": "v1", "command": ["sh"], "stdin": True},
        },
    ),
    (
        "a CONNECT to pods/portforward",
        {
            "operation": "CONNECT",
            "sub_resource": "portforward",
            "kind": "PodPortForwardOptions",
            "obj": None,
        },
    ),
    ("an UPDATE of pods/status", {"operation": "UPDATE", "sub_resource": "status"}),
    (
        "a CREATE of pods/binding",
        {
            "sub_resource": "binding",
            "kind": "Binding",
            "obj": {
                "kind": "Binding",
                "apiVersion": "v1",
                "metadata": {"name": "train"},
                "target": {"kind": "Node", "name": "n1"},
            },
        },
    ),
    (
        "a CREATE of pods/eviction",
        {
            "sub_resource": "eviction",
            "kind": "Eviction",
            "group": "",
            "obj": {"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": "train"}},
        },
    ),
    (
        "an UPDATE of pods/ephemeralcontainers",
        {"operation": "UPDATE", "sub_resource": "ephemeralcontainers"},
    ),
    ("a PATCH of pods/resize", {"operation": "UPDATE", "sub_resource": "resize"}),
    (
        "a CREATE of a Deployment",
        {
            "group": "apps",
            "resource": "deployments",
            "kind": "Deployment",
            "obj": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": gpu_pod()}},
        },
    ),
    (
        "a CREATE of a ConfigMap",
        {
            "resource": "configmaps",
            "kind": "ConfigMap",
            "obj": {"apiVersion": "v1", "kind": "ConfigMap", "data": {}},
        },
    ),
    (
        "a CREATE of a Namespace",
        {
            "resource": "namespaces",
            "kind": "Namespace",
            "namespace": "ml",
            "obj": {"apiVersion": "v1", "kind": "Namespace"},
        },
    ),
    ("a CREATE of pods in another API group", {"group": "example.com", "kind": "Pod"}),
    ("a CREATE of metrics.k8s.io PodMetrics", {"group": "metrics.k8s.io", "kind": "PodMetrics"}),
    ("an unknown operation", {"operation": "PATCH"}),
]


@pytest.mark.parametrize("changes", [c for _, c in UNCHANGED], ids=[name for name, _ in UNCHANGED])
def test_only_a_pod_create_is_mutated(client: AppClient, changes: dict[str, Any]) -> None:
    changes = dict(changes)
    obj = changes.pop("obj", gpu_pod())
    for version in ("v1", "v1beta1"):
        r = client.post("/mutate", json=review(obj, version=version, **changes))
        assert r.status_code == 200
        assert r.json() == {
            "apiVersion": f"admission.k8s.io/{version}",
            "kind": "AdmissionReview",
            "response": {"uid": UID, "allowed": True},
        }


# --- placement opt-outs that hostile pods could try to dodge --------------------------------


def test_the_request_namespace_wins_over_the_one_in_the_pod(client: AppClient) -> None:
    pod = gpu_pod()
    pod["metadata"]["namespace"] = "ml"  # lies: the request says kube-system
    _, after = admitted(client, pod, namespace="kube-system", validate=True)
    assert "affinity" not in spec_of(after)  # placement never added in kube-system
    assert GPU_TOLERATION in spec_of(after)["tolerations"]  # the upstream rule still applies


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["spec"].update(nodeName="node-1"),
        lambda p: p["metadata"].update(annotations={"kubernetes.io/config.mirror": "x"}),
        lambda p: p["metadata"].update(
            ownerReferences=[
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "d",
                    "uid": "u",
                    "controller": True,
                }
            ]
        ),
    ],
    ids=["a pod bound to a node", "a mirror pod", "a DaemonSet pod"],
)
def test_pinned_pods_get_tolerations_but_never_placement(
    client: AppClient, change: Callable[[Pod], None]
) -> None:
    pod = gpu_pod()
    change(pod)
    _, after = admitted(client, pod)
    assert "affinity" not in spec_of(after)
    assert GPU_TOLERATION in spec_of(after)["tolerations"]


# --- JSON edge cases in an otherwise good body ----------------------------------------------


def test_a_duplicated_key_in_the_body_takes_the_last_value(client: AppClient) -> None:
    good = json.dumps(review(gpu_pod()))
    body = good.replace(
        '"kind": "AdmissionReview"', '"kind": "Nonsense", "kind": "AdmissionReview"'
    )
    r = client.post("/mutate", content=body)
    assert r.status_code == 200
    check_response(r.json()["response"])


def test_an_integer_beyond_64_bits_in_an_unknown_field_is_admitted(client: AppClient) -> None:
    body = json.dumps(review(gpu_pod())).replace(
        '"spec": {', '"spec": {"x": 18446744073709551616, '
    )
    r = client.post("/mutate", content=body)
    assert r.status_code == 200
    check_response(r.json()["response"])


def test_an_infinite_number_is_not_json_and_gets_400(client: AppClient) -> None:
    body = json.dumps(review(gpu_pod())).replace('"spec": {', '"spec": {"x": 1e400, ')
    r = client.post("/mutate", content=body)
    assert r.status_code == 400
    assert "infinity" in r.json()["error"]
