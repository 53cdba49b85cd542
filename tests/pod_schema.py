"""Pods generated from the Kubernetes Pod JSON Schema that kubernetes-validate ships.

Every field of the schema can appear (not only those the policies read): `$ref`s are resolved
from `_definitions.json`, nullable types may be null, `oneOf` (quantities, int-or-string) picks
a branch, maps get keys. Depth and sizes are bounded so one example stays small; strings and
map keys are drawn partly from values the shipped policies react to (GPU resources, Argo and
notebook labels, owner kinds) and from keys that need RFC 6901 escaping, so generated pods
do get patched.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from hypothesis import strategies as st

from tests.kube import K8S_VERSION

Schema = dict[str, Any]

# Keys and strings the shipped policies match on, plus ones that need escaping in a pointer.
INTERESTING_KEYS = (
    "nvidia.com/gpu",
    "amd.com/gpu",
    "example.com/fpga",
    "cpu",
    "memory",
    "ng-name",
    "workflows.argoproj.io/workflow",
    "pipeline/runid",
    "notebook-name",
    "training.kubeflow.org/job-name",
    "cluster-autoscaler.kubernetes.io/safe-to-evict",
    "kubernetes.io/config.mirror",
    "pod-placement-webhook/policies",
    "pod-placement-webhook~1policies",
    "a/b~c",
    "~0~1",
    "ключ/значение",
)
INTERESTING_STRINGS = (
    "1",
    "false",
    "Workflow",
    "Job",
    "StatefulSet",
    "DaemonSet",
    "argoproj.io/v1alpha1",
    "batch/v1",
    "apps/v1",
    "nvidia.com/gpu",
    "NoSchedule",
    "Exists",
    "Equal",
    "In",
    "ndots",
    "g1",
)
DATE_TIMES = ("2026-01-02T03:04:05Z", "1970-01-01T00:00:00Z")
NUMBERS = (0, 1, 2, 0.5, 1024, 2.25)


@cache
def definitions() -> Schema:
    return _load("_definitions.json")["$defs"]  # type: ignore[no-any-return]


@cache
def pod_schema() -> Schema:
    return _load("pod-v1.json")


def _load(name: str) -> Schema:
    folder = f"v{K8S_VERSION}.0-local-strict"
    path = resources.files("kubernetes_validate") / "kubernetes-json-schema" / folder / name
    data: Schema = json.loads(path.read_text())
    return data


def _resolve(schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = definitions()[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _types(schema: Schema) -> list[str]:
    kind = schema.get("type")
    if kind is None:
        return ["object"] if "properties" in schema else []
    return [kind] if isinstance(kind, str) else list(kind)


def text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(INTERESTING_STRINGS), st.text(max_size=12))


def keys() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(INTERESTING_KEYS), st.text(max_size=12))


def strategy(schema: Schema, depth: int, nulls: bool = True) -> st.SearchStrategy[Any]:
    """Values valid against `schema`. Below `depth` 0 only required properties appear."""
    schema = _resolve(schema)
    if "oneOf" in schema:
        # Quantity and IntOrString: both branches allow null, so null would match both and
        # fail `oneOf`: never null here.
        return st.one_of([strategy(s, depth, nulls=False) for s in schema["oneOf"]])
    types = _types(schema)
    nullable = nulls and "null" in types
    base = _non_null(schema, [t for t in types if t != "null"], depth, nulls)
    if nullable:
        # Mostly values, sometimes null: the apiserver never sends null, clients may.
        return st.one_of(base, base, base, st.none())
    return base


def _non_null(schema: Schema, types: list[str], depth: int, nulls: bool) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from([v for v in schema["enum"] if v is not None])
    kind = types[0] if types else "object"
    if kind == "object":
        return _object(schema, depth, nulls)
    if kind == "array":
        size = 2 if depth > 0 else 1
        return st.lists(strategy(schema.get("items", {}), depth - 1, nulls), max_size=size)
    if kind == "string":
        return st.sampled_from(DATE_TIMES) if schema.get("format") == "date-time" else text()
    if kind == "integer":
        low, high = (-(2**31), 2**31 - 1) if schema.get("format") == "int32" else (-(2**53), 2**53)
        return st.integers(low, high)
    if kind == "number":
        return st.sampled_from(NUMBERS)
    if kind == "boolean":
        return st.booleans()
    raise ValueError(f"no strategy for schema type {kind!r}")


def _object(schema: Schema, depth: int, nulls: bool) -> st.SearchStrategy[Any]:
    properties: Schema = schema.get("properties", {})
    if not properties:
        values = schema.get("additionalProperties")
        value = strategy(values, depth - 1, nulls) if isinstance(values, dict) else text()
        return st.dictionaries(keys(), value, max_size=3 if depth > 0 else 1)
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {k: strategy(v, depth - 1, nulls) for k, v in properties.items() if k in required},
        optional={
            k: strategy(v, depth - 1, nulls)
            for k, v in properties.items()
            if k not in required and depth > 0
        },
    )


def pods(depth: int = 5) -> st.SearchStrategy[dict[str, Any]]:
    """Pod manifests as the apiserver sends them: apiVersion, kind and a spec object are
    always there (a Pod without a spec never passes validation, so no webhook sees one)."""
    properties = pod_schema()["properties"]
    return st.fixed_dictionaries(
        {
            "apiVersion": st.just("v1"),
            "kind": st.just("Pod"),
            "spec": _non_null(_resolve(properties["spec"]), ["object"], depth - 1, nulls=True),
        },
        optional={
            k: strategy(v, depth - 1) for k, v in properties.items() if k in ("metadata", "status")
        },
    )


def every_field(schema: Schema | None = None, depth: int = 6) -> Any:
    """One deterministic instance with every property of every object set, to `depth`."""
    schema = _resolve(schema if schema is not None else pod_schema())
    if "oneOf" in schema:
        return every_field(schema["oneOf"][0], depth)
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    types = [t for t in _types(schema) if t != "null"]
    kind = types[0] if types else "object"
    if kind == "object":
        properties = schema.get("properties")
        if not properties:
            values = schema.get("additionalProperties")
            sample = every_field(values, depth - 1) if isinstance(values, dict) else "v"
            return {"example.com/key": sample}
        if depth <= 0:
            properties = {k: v for k, v in properties.items() if k in schema.get("required", ())}
        return {k: every_field(v, depth - 1) for k, v in properties.items()}
    if kind == "array":
        return [every_field(schema.get("items", {}), depth - 1)] if depth > 0 else []
    if kind == "string":
        return DATE_TIMES[0] if schema.get("format") == "date-time" else "x"
    if kind in ("integer", "number"):
        return 1
    return True
