"""Argo Workflows objects validated against the Workflow CRD's OpenAPI schema (v4.1.2, see
tests/schemas/README.md), as kube-apiserver validates a structural schema, with unknown fields
refused instead of pruned."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = Path(__file__).parent / "schemas" / "argoproj.io_workflows.v4.1.2.openapi.json"


@functools.cache
def _validator(part: str) -> jsonschema.Draft7Validator:
    schema = _strict(json.loads(SCHEMA.read_text()))
    if part == "spec":
        schema = schema["properties"]["spec"]
    return jsonschema.Draft7Validator(schema)


def _strict(node: Any) -> Any:
    """OpenAPI v3 of a structural schema as JSON Schema: int-or-string is either, a known
    object takes no unknown field, `nullable` allows null."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def workflow_errors(obj: Mapping[str, Any]) -> list[str]:
    """Why the schema refuses a Workflow, WorkflowTemplate or CronWorkflow (for the last two,
    their WorkflowSpec: `spec`, `spec.workflowSpec`)."""
    kind = obj.get("kind")
    if kind == "Workflow":
        return _errors(_validator("whole"), obj)
    spec = obj.get("spec") or {}
    if kind == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    return _errors(_validator("spec"), spec)


def _errors(validator: jsonschema.Draft7Validator, value: Any) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '/'}: {e.message}"
        for e in validator.iter_errors(value)
    ]
