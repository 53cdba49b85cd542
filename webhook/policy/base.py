"""What every policy document shares: strict models, metadata, and the checks of names and
values that the apiserver will apply to whatever a policy adds (`webhook.kube.validation`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from webhook.kube.validation import Key, Path, validate_label_name, validate_labels
from webhook.policy.apirules import refuse

API_VERSION = "pod-placement-webhook/v1"


class Strict(BaseModel):
    """Every policy object: unknown fields are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Metadata(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
    description: str = ""


def label_key(key: str, path: Path = ()) -> str:
    """A label or taint key as the apiserver checks it (a qualified name); raised when not."""
    refuse(validate_label_name(key, path))
    return key


def label_pair(key: str, value: str) -> None:
    """A label key and value as the apiserver checks them on a pod or a node."""
    refuse(validate_labels({key: value}, (Key(key),)))
