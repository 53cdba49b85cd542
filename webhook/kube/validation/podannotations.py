"""The annotations a Pod may not carry, or must carry in a given form.

Ported from kubernetes `pkg/apis/core/validation/validation.go`: ValidatePodSpecificAnnotations
(the mirror-pod annotation, the tolerations annotation, pod-deletion-cost, and through
ValidateSeccompPodAnnotations / ValidateAppArmorPodAnnotations the seccomp and AppArmor
annotations), and from ValidatePodCreate the checks that those annotations agree with the
matching securityContext fields (validateSeccompAnnotationsAndFields,
validateAppArmorAnnotationsAndFieldsMatchOnCreate). pkg/apis/core/helper/helpers.go
GetDeletionCostFromPodAnnotations gives pod-deletion-cost its format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from webhook.kube.validation.field import FieldError, Key, Path, forbidden, invalid
from webhook.kube.validation.meta import mapping, sequence, text
from webhook.kube.validation.names import is_int, parse_int
from webhook.kube.validation.tolerations import validate_tolerations

MIRROR = "kubernetes.io/config.mirror"
TOLERATIONS = "scheduler.alpha.kubernetes.io/tolerations"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_CONTAINER_PREFIX = "container.apparmor.security.beta.kubernetes.io/"

_TOLERATION_FIELDS = {f.lower(): f for f in ("key", "operator", "value", "effect")}


def is_checked_annotation(key: str) -> bool:
    """A key whose presence or value the apiserver checks on a Pod."""
    return key in (MIRROR, TOLERATIONS, DELETION_COST, SECCOMP_POD) or key.startswith(
        (SECCOMP_CONTAINER_PREFIX, APPARMOR_CONTAINER_PREFIX)
    )


def depends_on_the_pod(key: str) -> bool:
    """A key whose validity depends on the rest of the pod (spec.nodeName, its containers and
    their securityContext), so no value is valid for every pod."""
    return key in (MIRROR, SECCOMP_POD) or key.startswith(
        (SECCOMP_CONTAINER_PREFIX, APPARMOR_CONTAINER_PREFIX)
    )


def validate_pod_specific_annotations(
    annotations: Mapping[str, str], spec: Mapping[str, Any], path: Path
) -> list[FieldError]:
    errors: list[FieldError] = []
    if MIRROR in annotations and not text(spec, "nodeName"):
        errors.append(
            invalid(
                (*path, Key(MIRROR)),
                annotations[MIRROR],
                "must set spec.nodeName if mirror pod annotation is set",
            )
        )
    if annotations.get(TOLERATIONS):
        decoded = decode_tolerations(annotations[TOLERATIONS])
        if isinstance(decoded, str):
            errors.append(invalid(path, TOLERATIONS, decoded))
        else:
            errors += validate_tolerations(decoded, (*path, TOLERATIONS))
    if DELETION_COST in annotations and not is_deletion_cost(annotations[DELETION_COST]):
        errors.append(
            invalid(
                (*path, Key(DELETION_COST)), annotations[DELETION_COST], "must be a 32bit integer"
            )
        )
    for key, value in annotations.items():
        if key == SECCOMP_POD or key.startswith(SECCOMP_CONTAINER_PREFIX):
            errors += validate_seccomp_profile(value, (*path, key))
        if key.startswith(APPARMOR_CONTAINER_PREFIX):
            container = key.removeprefix(APPARMOR_CONTAINER_PREFIX)
            if container not in {text(c, "name") for c, _ in containers_with_path(spec, ())}:
                errors.append(invalid((*path, Key(key)), container, "container not found"))
            if value not in ("", "runtime/default", "unconfined") and not value.startswith(
                "localhost/"
            ):
                errors.append(
                    invalid((*path, Key(key)), value, f"invalid AppArmor profile name: {value!r}")
                )
    return errors


def is_deletion_cost(value: str) -> bool:
    """GetDeletionCostFromPodAnnotations: an int32 in canonical form ("+10" and "008" are not)."""
    if not value or not (value[0] == "-" or value == "0" or "1" <= value[0] <= "9"):
        return False
    return parse_int(value, 32) is not None


def decode_tolerations(value: str) -> list[Any] | str:
    """json.Unmarshal into []v1.Toleration: the tolerations, or Go's error as text. Field names
    match case-insensitively and unknown ones are ignored, as in encoding/json."""
    try:
        data = json.loads(value)
    except ValueError as exc:
        return f"invalid JSON: {exc}"
    if data is None:
        return []
    if not isinstance(data, list):
        return "json: cannot unmarshal into Go value of type []v1.Toleration"
    tolerations: list[Any] = []
    for item in data:
        if item is None:
            tolerations.append({})
            continue
        if not isinstance(item, dict):
            return "json: cannot unmarshal into Go value of type v1.Toleration"
        toleration: dict[str, Any] = {}
        for name, field_value in item.items():
            canonical = _TOLERATION_FIELDS.get(name.lower())
            if canonical is not None and field_value is not None:
                if not isinstance(field_value, str):
                    return f"json: cannot unmarshal into Go struct field Toleration.{canonical}"
                toleration[canonical] = field_value
            elif name.lower() == "tolerationseconds" and field_value is not None:
                if not is_int(field_value, 64):
                    return (
                        "json: cannot unmarshal into Go struct field Toleration.tolerationSeconds"
                    )
                toleration["tolerationSeconds"] = field_value
        tolerations.append(toleration)
    return tolerations


def validate_seccomp_profile(profile: str, path: Path) -> list[FieldError]:
    if profile in ("runtime/default", "docker/default", "unconfined"):
        return []
    if profile.startswith("localhost/"):
        return validate_local_descending_path(profile.removeprefix("localhost/"), path)
    return [invalid(path, profile, "must be a valid seccomp profile")]


def validate_local_descending_path(target: str, path: Path) -> list[FieldError]:
    errors = []
    if target.startswith("/"):
        errors.append(invalid(path, target, "must be a relative path"))
    if ".." in target.split("/"):
        errors.append(invalid(path, target, "must not contain '..'"))
    return errors


def containers_with_path(
    spec: Mapping[str, Any], path: Path
) -> Iterator[tuple[Mapping[str, Any], Path]]:
    """podshelper.VisitContainersWithPath: init containers, containers, ephemeral containers."""
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(sequence(spec.get(kind))):
            yield mapping(container), (*path, kind, index)


def validate_annotations_match_fields_on_create(
    annotations: Mapping[str, str], spec: Mapping[str, Any], path: Path
) -> list[FieldError]:
    """ValidatePodCreate: seccomp and AppArmor annotations agree with the fields they shadow."""
    errors: list[FieldError] = []
    pod_context = mapping(spec.get("securityContext"))
    pod_seccomp = pod_context.get("seccompProfile")
    if pod_seccomp is not None and SECCOMP_POD in annotations:
        errors += _profiles_match(
            "seccomp",
            annotations[SECCOMP_POD],
            mapping(pod_seccomp),
            (*path, "securityContext", "seccompProfile"),
        )
    windows = text(mapping(spec.get("os")), "name") == "windows"
    for container, where in containers_with_path(spec, path):
        context = mapping(container.get("securityContext"))
        name = text(container, "name")
        seccomp = context.get("seccompProfile")
        if seccomp is not None and SECCOMP_CONTAINER_PREFIX + name in annotations:
            errors += _profiles_match(
                "seccomp",
                annotations[SECCOMP_CONTAINER_PREFIX + name],
                mapping(seccomp),
                (*where, "securityContext", "seccompProfile"),
            )
        apparmor = context.get("appArmorProfile", pod_context.get("appArmorProfile"))
        key = APPARMOR_CONTAINER_PREFIX + name
        if not windows and apparmor is not None and key in annotations:
            errors += _profiles_match(
                "apparmor",
                annotations[key],
                mapping(apparmor),
                (*where, "securityContext", "appArmorProfile"),
            )
    return errors


def _profiles_match(
    kind: str, annotation: str, profile: Mapping[str, Any], path: Path
) -> list[FieldError]:
    profile_type = text(profile, "type")
    runtime_default = (
        ("runtime/default", "docker/default") if kind == "seccomp" else ("runtime/default",)
    )
    mismatch = forbidden((*path, "type"), f"{kind} type in annotation and field must match")
    if profile_type == "Unconfined" and annotation != "unconfined":
        return [mismatch]
    if profile_type == "RuntimeDefault" and annotation not in runtime_default:
        return [mismatch]
    if profile_type == "Localhost":
        if not annotation.startswith("localhost/"):
            return [mismatch]
        if annotation.removeprefix("localhost/") != profile.get("localhostProfile"):
            return [
                forbidden(
                    (*path, "localhostProfile"),
                    f"{kind} profile in annotation and field must match",
                )
            ]
    return []
