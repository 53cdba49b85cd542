"""The annotations a whole policy set can add to one pod, checked against the apiserver's limit.

kube-apiserver refuses a pod whose annotation keys and values together pass 256 KiB
(apimachinery `pkg/api/validation/objectmeta.go` ValidateAnnotationsSize). Every policy of a set
may match the same pod, and each one that changes it also lengthens the provenance annotation
(`PolicySettings.annotationKey`, a comma-separated list of policy names): a set whose additions
alone could pass the limit is refused where it passes it, naming that policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from webhook.errors import PolicyError
from webhook.kube.validation import TOTAL_ANNOTATION_SIZE_LIMIT_BYTES
from webhook.kube.validation.names import byte_length
from webhook.policy.model import PlacementPolicy, SettingsSpec

Origin = tuple[str, int, int]  # file, document, line of spec.add.annotations


def check_annotation_budget(
    policies: Iterable[PlacementPolicy], settings: SettingsSpec, origins: Mapping[str, Origin]
) -> None:
    """Raise PolicyError at the first policy (in run order) past the limit."""
    key = settings.annotation_key
    total = byte_length(key)
    added: dict[str, int] = {}
    for policy in policies:
        total += byte_length(policy.name) + 1  # its name and a comma in the provenance value
        for name, value in policy.spec.add.annotations.items():
            # The same key from two policies is added once (only what the pod lacks).
            size = byte_length(name) + byte_length(value)
            total += max(size - added.get(name, 0), 0)
            added[name] = max(size, added.get(name, 0))
        if total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES:
            file, document, line = origins[policy.name]
            raise PolicyError(
                file,
                document,
                line,
                ("spec", "add", "annotations"),
                f"with this policy the set can add {total} bytes of annotations to one pod "
                f"(keys and values, {key} included), over the apiserver's limit of "
                f"{TOTAL_ANNOTATION_SIZE_LIMIT_BYTES} bytes for all of a pod's annotations",
            )
