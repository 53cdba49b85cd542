"""The JSON Schema of a policy document, for editors (yaml-language-server) and docs."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from webhook.policy.model import Document

SCHEMA_ID = "https://pod-placement-webhook/policy.schema.json"


def policy_json_schema() -> dict[str, Any]:
    schema = TypeAdapter(Document).json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "pod-placement-webhook policy document",
        **schema,
    }
