"""Policy files in, a validated PolicySet out, or every problem at once.

Each problem names the file, the document index (1-based), the line and the field path, e.g.
``policies/spot.yaml: document 2, line 14: spec.add.tolerations[0].operator: ...``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from webhook.errors import PolicyError, Problem
from webhook.kube.mounts import read_stable, version_link
from webhook.policy.documents import Parsed, parse_documents
from webhook.policy.model import PlacementPolicy, PolicySettings, SettingsSpec

POLICY_SUFFIXES = (".yaml", ".yml")
# Files next to policies that are not policies: policy tests (see `placement-webhook test`).
TEST_SUFFIXES = (".test.yaml", ".test.yml")

POLICY_MODELS: dict[str, type[PlacementPolicy | PolicySettings]] = {
    "PlacementPolicy": PlacementPolicy,
    "PolicySettings": PolicySettings,
}


@dataclass(frozen=True)
class Source:
    """One policy file's bytes. `name` is how errors show it (`root/key`, never kubelet's
    timestamped directory); `key` is its name inside its directory, which the digest uses so
    that the same files hash the same wherever they are."""

    name: str
    key: str
    data: bytes


@dataclass(frozen=True)
class PolicySet:
    """Policies sorted by (order, name), the set's settings, and a digest of the files."""

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
        raise FileNotFoundError(f"{root}: no such policy file or directory")
    return [
        path
        for path in sorted(root.iterdir())
        if not path.name.startswith(".")
        and path.name.endswith(POLICY_SUFFIXES)
        and not path.name.endswith(TEST_SUFFIXES)
        and path.is_file()
    ]


def read_sources(roots: Sequence[Path]) -> list[Source]:
    """The policy files under `roots`, each kubelet-mounted root read from one version (see
    `webhook.kube.mounts`). Raises PolicyError for a root that does not exist, OSError when
    files cannot be read."""
    sources: list[Source] = []
    for root in roots:
        if not root.exists():
            raise PolicyError(str(root), None, None, "", "no such policy file or directory")
        sources += read_stable([version_link(root)], partial(_read_root, root))
    return sources


def _read_root(root: Path, resolved: tuple[Path, ...]) -> list[Source]:
    version = resolved[0]
    if version.is_file():
        return [Source(str(root), root.name, version.read_bytes())]
    return [
        Source(str(root / f.relative_to(version)), f.name, f.read_bytes())
        for f in policy_files(version)
    ]


def digest_of(sources: Iterable[Source]) -> str:
    """The set's identity: what `check` prints, `/readyz` serves and metrics label. It hashes
    each file's key and bytes, not its path, so CI and every replica agree."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.key.encode() + b"\0" + source.data + b"\0")
    return digest.hexdigest()[:16]


def load_policy_set(paths: Path | Sequence[Path]) -> PolicySet:
    """Load and validate every policy under `paths`; PolicyError lists every problem."""
    return parse_policy_set(read_sources([paths] if isinstance(paths, Path) else list(paths)))


def parse_policy_set(sources: Iterable[Source | tuple[str, bytes]]) -> PolicySet:
    """Validate policy files given as Sources or (file name, bytes) pairs."""
    files = [s if isinstance(s, Source) else Source(s[0], Path(s[0]).name, s[1]) for s in sources]
    documents: list[Parsed[PlacementPolicy | PolicySettings]] = []
    problems: list[Problem] = []
    for source in files:
        parsed, found = parse_documents(source.name, source.data, POLICY_MODELS)
        documents += parsed
        problems += found
    policies, settings, found = _assemble(documents)
    problems += found
    if problems:
        raise PolicyError.of(problems)
    return PolicySet(
        policies=tuple(sorted(policies, key=lambda p: (p.spec.order, p.name))),
        settings=settings,
        digest=digest_of(files),
        sources=tuple(s.name for s in files),
    )


def _assemble(
    documents: list[Parsed[PlacementPolicy | PolicySettings]],
) -> tuple[list[PlacementPolicy], SettingsSpec, list[Problem]]:
    """Rules across documents: one PolicySettings at most, policy names unique."""
    policies: list[PlacementPolicy] = []
    settings: SettingsSpec | None = None
    seen: dict[str, str] = {}
    problems: list[Problem] = []
    for doc in documents:
        value = doc.value
        if isinstance(value, PolicySettings):
            if settings is not None:
                message = "only one PolicySettings document is allowed per set"
                problems.append(doc.problem((), message, field="kind"))
            settings = value.spec
        elif value.name in seen:
            message = f"policy {value.name!r} is already defined in {seen[value.name]}"
            problems.append(doc.problem(("metadata", "name"), message))
        else:
            seen[value.name] = doc.file
            policies.append(value)
    return policies, settings or SettingsSpec(), problems
