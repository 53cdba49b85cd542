"""`annotations`: added when the pod lacks the key; the pod's own value always wins."""

from collections.abc import Mapping
from typing import Any

import orjson

from webhook.kube.pod import Pod, annotations_of
from webhook.kube.validation import (
    TOTAL_ANNOTATION_SIZE_LIMIT_BYTES,
    FieldError,
    annotations_size,
)
from webhook.kube.validation.field import TOO_LONG
from webhook.mutations.kind import Items, keyed_kind

PATH = ("metadata", "annotations")


def _check(items: Items, before: Pod, after: Pod) -> list[FieldError]:
    """The keys and values were checked at load; a pod near the apiserver's 256 KiB total of
    annotations can still be pushed past it."""
    if not exceeds(before, after):
        return []
    limit = f"may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT_BYTES} bytes"
    return [FieldError(PATH, TOO_LONG, limit)]


def exceeds_annotation_limit(pod: Pod, key: str, value: str) -> bool:
    """Whether setting key=value takes the pod's annotations past the apiserver's limit."""
    return exceeds(pod, pod, {key: value})


def exceeds(before: Pod, after: Pod, setting: Mapping[str, str] | None = None) -> bool:
    """Whether the annotations of `after` (with `setting` set) are past the apiserver's limit
    and those of `before` were not (a pod already past it is refused whatever is added)."""
    found = annotations_of(after)
    if _at_most_bytes(found, setting) <= TOTAL_ANNOTATION_SIZE_LIMIT_BYTES:
        return False  # the usual pod: far from the limit
    total = _size({**found, **setting} if setting else found)
    return total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES >= _size(annotations_of(before))


def _at_most_bytes(annotations: Mapping[str, Any], setting: Mapping[str, str] | None) -> int:
    """An upper bound of their size, in one C call: their JSON, which holds every key and
    string value in UTF-8 (orjson escapes nothing but quotes and controls), and the setting at
    4 bytes a character at most."""
    extra = sum(4 * (len(k) + len(v)) for k, v in setting.items()) if setting else 0
    return len(orjson.dumps(annotations)) + extra


def _size(annotations: Mapping[str, Any]) -> int:
    """What the apiserver counts: a value that is not a string (null decodes as "") adds
    only its key."""
    return annotations_size({k: v if isinstance(v, str) else "" for k, v in annotations.items()})


KIND = keyed_kind(
    "annotations",
    noun="annotation",
    path=PATH,
    # kubernetes.io/config.mirror makes a mirror pod; pipelines.kubeflow.org/runtime-role a KFP
    # driver; kueue.x-k8s.io/pod-suspending-parent a pod Kueue places.
    stale=frozenset({"annotations", "workload", "queued"}),
    check=_check,
)
