"""Custom resources validated as kube-apiserver validates them against their CRD: the version's
structural OpenAPI v3 schema (jsonschema: types, required fields, enums, patterns, unknown
fields refused where the schema lists the properties), then each `x-kubernetes-validations` rule
(CEL, evaluated by cel-python with `self` bound to the value it is declared on).

The CRDs are committed under tests/crds/, each with the address of the file it was taken from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from celpy import celtypes
from celpy.evaluation import base_functions

CRDS = Path(__file__).resolve().parent / "crds"
NUMBERS = (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)


@cache
def crds() -> dict[tuple[str, str], Mapping[str, Any]]:
    """(apiVersion, kind) -> the CRD that serves it."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            found[(f"{group}/{version['name']}", kind)] = crd
    return found


def known(obj: Mapping[str, Any]) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in crds()


def scope(obj: Mapping[str, Any]) -> str:
    """ "Namespaced" or "Cluster", as the CRD declares."""
    return str(crds()[(obj["apiVersion"], obj["kind"])]["spec"]["scope"])


def errors(obj: Mapping[str, Any]) -> list[str]:
    """Every reason the apiserver would refuse `obj`; [] when it would store it."""
    crd = crds()[(obj["apiVersion"], obj["kind"])]
    version = obj["apiVersion"].split("/")[1]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _strict(served["schema"]["openAPIV3Schema"])
    validator = jsonschema.Draft7Validator(schema)
    found = [f"{_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
    if not found:  # the apiserver runs the rules on values the schema admitted only
        found += [f"{path}: {message}" for path, message in _rules(schema, obj, ())]
    return found


def _strict(schema: Any) -> Any:
    """The schema as the apiserver applies it: properties not listed are refused (structural
    schemas prune them, or refuse them under kubectl's default strict field validation), and
    `x-kubernetes-int-or-string` admits an integer or a string."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if k != "properties"}
    if "properties" in schema:
        out["properties"] = {name: _strict(s) for name, s in schema["properties"].items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = out.get("x-kubernetes-preserve-unknown-fields", False)
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    return out


def _rules(
    schema: Mapping[str, Any], value: Any, path: tuple[Any, ...]
) -> Iterator[tuple[str, str]]:
    for rule in schema.get("x-kubernetes-validations", []):
        verdict = _evaluate(rule["rule"], value)
        if verdict is not True:
            yield _path(path), str(rule.get("message") or rule.get("messageExpression") or verdict)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            child = properties.get(key) or schema.get("additionalProperties")
            if isinstance(child, dict):
                yield from _rules(child, item, (*path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _rules(schema["items"], item, (*path, index))


def _evaluate(rule: str, value: Any) -> bool | str:
    environment = celpy.Environment()
    try:
        program = environment.program(environment.compile(rule), functions=HETEROGENEOUS)
        result = program.evaluate({"self": celpy.json_to_cel(value)})
    except (celpy.CELEvalError, celpy.CELParseError) as exc:
        return f"rule {rule!r} did not evaluate: {exc}"
    return bool(result) if isinstance(result, celtypes.BoolType) else f"not a bool: {result!r}"


def _equal(a: Any, b: Any) -> celtypes.BoolType:
    """CEL's heterogeneous equality (cel-spec langdef.md, "Equality"), as cel-go applies it in
    kube-apiserver: values of different types are unequal, numbers compare by value. Needed for
    int-or-string fields (`self != 0` on a port given by name); cel-python refuses the mix."""
    if isinstance(a, NUMBERS) and isinstance(b, NUMBERS):
        return celtypes.BoolType(float(a) == float(b))
    if type(a) is not type(b):
        return celtypes.BoolType(False)
    result: celtypes.BoolType = base_functions["_==_"](a, b)
    return result


HETEROGENEOUS = {
    "_==_": _equal,
    "_!=_": lambda a, b: celtypes.BoolType(not _equal(a, b)),
}


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts) or "(the object)"
