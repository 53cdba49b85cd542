"""The JSON Schema of a policy document, for editors (yaml-language-server) and docs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from webhook.policy.model import PlacementPolicy, PolicySettings
from webhook.policy.pools import NodePool
from webhook.policy.retries import RetryPolicy

Document = Annotated[
    PlacementPolicy | PolicySettings | NodePool | RetryPolicy, Field(discriminator="kind")
]

SCHEMA_ID = "https://pod-placement-webhook/policy.schema.json"


def policy_json_schema() -> dict[str, Any]:
    schema = TypeAdapter(Document).json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "pod-placement-webhook policy document",
        **dispatch_on_kind(schema),
    }


def dispatch_on_kind(schema: dict[str, Any]) -> dict[str, Any]:
    """The tagged union as draft 2020-12 says it: `kind` is one of the known kinds, and each
    kind's `if`/`then` applies that kind's schema alone.

    Pydantic writes a tagged union as `oneOf` plus OpenAPI's `discriminator` keyword, which is
    no JSON Schema keyword: strict validators (ajv with `strict: true`) reject the schema. With
    `if`/`then` an editor reports the errors of the document's own kind only, never a blend of
    every kind's.
    """
    rest = dict(schema)
    mapping: dict[str, str] = rest.pop("discriminator")["mapping"]
    tag = "kind"
    rest.pop("oneOf")
    return {
        **rest,
        "type": "object",
        "required": [tag],
        "properties": {tag: {"enum": list(mapping)}},
        "allOf": [
            {
                "if": {"properties": {tag: {"const": kind}}, "required": [tag]},
                "then": {"$ref": ref},
            }
            for kind, ref in mapping.items()
        ],
    }
