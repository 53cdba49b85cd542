"""Reading policy files: YAML documents in, a validated PolicySet out, or one readable error.

Each error names the file, the document index (1-based), the line and the field path, e.g.
``policies/spot.yaml: document 2, line 14: spec.add.tolerations[0].operator: ...``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from webhook.errors import PolicyError
from webhook.policy.apirules import error_path
from webhook.policy.budget import Origin, check_annotation_budget
from webhook.policy.model import PlacementPolicy, PolicySettings, SettingsSpec
from webhook.policy.yamlsafe import compose_documents, read_capped, to_python

POLICY_SUFFIXES = (".yaml", ".yml")
# Files next to policies that are not policies: policy tests (see `placement-webhook test`).
TEST_SUFFIXES = (".test.yaml", ".test.yml")

_MODELS: dict[str, type[PlacementPolicy] | type[PolicySettings]] = {
    "PlacementPolicy": PlacementPolicy,
    "PolicySettings": PolicySettings,
}


@dataclass(frozen=True)
class PolicySet:
    """Policies sorted by (order, name), the set's settings, and a hash of the source bytes."""

    policies: tuple[PlacementPolicy, ...]
    settings: SettingsSpec
    digest: str
    sources: tuple[str, ...]


def policy_files(root: Path) -> list[Path]:
    """Policy files directly in a directory, or the file itself; sorted for determinism.

    Not recursive: a ConfigMap mounts its keys as files of one directory, and sub-directories
    (such as policies/examples/<cloud>/) are sets of their own. Hidden entries are skipped:
    kubelet mounts a ConfigMap with `..data` and `..<timestamp>` entries beside the keys.
    """
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise PolicyError(str(root), None, None, "", "no such policy file or directory")
    return [
        path
        for path in sorted(root.iterdir())
        if not path.name.startswith(".")
        and path.name.endswith(POLICY_SUFFIXES)
        and not path.name.endswith(TEST_SUFFIXES)
        and path.is_file()
    ]


def load_policy_set(paths: Path | Sequence[Path]) -> PolicySet:
    """Load and validate every policy under `paths`. Raises PolicyError on the first problem."""
    roots = [paths] if isinstance(paths, Path) else list(paths)
    files = [f for root in roots for f in policy_files(root)]
    return parse_policy_set((str(f), read_capped(f)) for f in files)


def parse_policy_set(sources: Iterable[tuple[str, bytes]]) -> PolicySet:
    """Validate policy documents given as (file name, bytes) pairs."""
    policies: list[PlacementPolicy] = []
    settings: PolicySettings | None = None
    seen: dict[str, str] = {}
    origins: dict[str, Origin] = {}
    digest = hashlib.sha256()
    names = []
    for filename, data in sources:
        names.append(filename)
        digest.update(filename.encode() + b"\0" + data + b"\0")
        for index, node in enumerate(_compose_documents(filename, data), start=1):
            if node is None:
                continue
            doc = parse_document(filename, index, node)
            if isinstance(doc, PolicySettings):
                if settings is not None:
                    raise PolicyError(
                        filename,
                        index,
                        node.start_mark.line + 1,
                        "kind",
                        "only one PolicySettings document is allowed per set",
                    )
                settings = doc
                continue
            if doc.name in seen:
                raise PolicyError(
                    filename,
                    index,
                    _line_of(node, ("metadata", "name")),
                    "metadata.name",
                    f"policy {doc.name!r} is already defined in {seen[doc.name]}",
                )
            seen[doc.name] = filename
            origins[doc.name] = (filename, index, _line_of(node, ("spec", "add", "annotations")))
            policies.append(doc)
    policies.sort(key=lambda p: (p.spec.order, p.name))
    check_annotation_budget(policies, settings.spec if settings else SettingsSpec(), origins)
    return PolicySet(
        policies=tuple(policies),
        settings=settings.spec if settings else SettingsSpec(),
        digest=digest.hexdigest()[:16],
        sources=tuple(names),
    )


def parse_document(filename: str, index: int, node: yaml.Node) -> PlacementPolicy | PolicySettings:
    data = _to_python(filename, index, node)
    if not isinstance(data, dict):
        raise PolicyError(
            filename, index, node.start_mark.line + 1, "", "a policy document must be a mapping"
        )
    kind = data.get("kind")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise PolicyError(
            filename,
            index,
            _line_of(node, ("kind",)),
            "kind",
            f"unknown kind {kind!r}: expected one of {', '.join(_MODELS)}",
        )
    try:
        document: PlacementPolicy | PolicySettings = model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"]) + error_path(first)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        raise PolicyError(filename, index, _line_of(node, loc), _dotted(loc), message) from None
    return document


def _compose_documents(filename: str, data: bytes) -> list[yaml.Node | None]:
    """The documents of a file; an empty one (a trailing `---`) is None."""
    return compose_documents(filename, data)


def _to_python(filename: str, index: int, node: yaml.Node) -> Any:
    """Plain data from a document, refusing what `webhook.policy.yamlsafe` refuses."""
    return to_python(filename, index, node)


def _line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node that `loc` reaches."""
    current = node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == part:
                    current = value_node
                    break
            else:
                break
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                break
            current = current.value[part]
        else:
            break
    return int(current.start_mark.line) + 1


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
