"""Policy files in, a validated PolicySet out, or every problem at once.

Each problem names the file, the document index (1-based), the line and the field path, e.g.
``policies/spot.yaml: document 2, line 14: spec.add.tolerations[0].operator: ...``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import yaml

from webhook.errors import Path as FieldPath
from webhook.errors import PolicyError, Problem
from webhook.kube.mounts import read_stable, version_link
from webhook.policy.budget import Origin, check_annotation_budget
from webhook.policy.documents import Parsed, compose_documents, line_of, parse_documents
from webhook.policy.model import PlacementPolicy, PolicySettings, SettingsSpec
from webhook.policy.pool_labels import overlaps, preference_key, why_no_preference_key
from webhook.policy.pools import NodePool
from webhook.policy.retries import RetryPolicy, needs_a_spot_pool
from webhook.policy.yamlsafe import read_capped

POLICY_SUFFIXES = (".yaml", ".yml")
# Files next to policies that are not policies: policy tests (see `placement-webhook test`).
TEST_SUFFIXES = (".test.yaml", ".test.yml")

SetDocument = PlacementPolicy | PolicySettings | NodePool | RetryPolicy
# Where `PolicySet.where` keeps the PolicySettings document (a policy name is lower case).
SETTINGS = "PolicySettings"
POLICY_MODELS: dict[str, type[SetDocument]] = {
    "PlacementPolicy": PlacementPolicy,
    "PolicySettings": PolicySettings,
    "NodePool": NodePool,
    "RetryPolicy": RetryPolicy,
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
    """Policies sorted by (order, name), the set's settings and node pools, and a digest of the
    files. `where` tells in which file, document and line each policy is defined; `warnings`
    are what loads but deserves a look (`check` prints them)."""

    policies: tuple[PlacementPolicy, ...]
    settings: SettingsSpec
    digest: str
    sources: tuple[str, ...]
    pools: Mapping[str, NodePool] = field(default_factory=dict)
    where: Mapping[str, Problem] = field(default_factory=dict)  # a Problem with no message
    warnings: tuple[Problem, ...] = ()
    # Sorted by (order, name); `where` holds each at "RetryPolicy/<name>".
    retries: tuple[RetryPolicy, ...] = ()

    def problem(self, policy: str, field: str | FieldPath, message: str) -> Problem:
        """A problem found in `policy` (or in the set's PolicySettings, `SETTINGS`) after
        loading (the placement proof), about `field`: a path, or a dotted name written in code
        (`spec.add`)."""
        unknown = "(default PolicySettings)" if policy == SETTINGS else "(unknown file)"
        at = self.where.get(policy, Problem(unknown, None, None, (), ""))
        path = tuple(field.split(".")) if isinstance(field, str) else field
        return Problem(at.file, at.document, at.line, path, message)


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
            raise PolicyError(str(root), None, None, (), "no such policy file or directory")
        sources += read_stable([version_link(root)], partial(_read_root, root))
    return sources


def _read_root(root: Path, resolved: tuple[Path, ...]) -> list[Source]:
    version = resolved[0]
    if version.is_file():
        return [Source(str(root), root.name, read_capped(version))]
    return [
        Source(str(root / f.relative_to(version)), f.name, read_capped(f))
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
    documents: list[Parsed[SetDocument]] = []
    problems: list[Problem] = []
    for source in files:
        parsed, found = parse_documents(source.name, source.data, POLICY_MODELS)
        documents += parsed
        problems += found
    assembled = _assemble(documents, _refused_pools(files, documents) if problems else set())
    problems += assembled.problems
    if not problems:
        problems += _over_annotation_budget(assembled)
    if problems:
        raise PolicyError.of(problems)
    return PolicySet(
        policies=tuple(sorted(assembled.policies, key=lambda p: (p.spec.order, p.name))),
        settings=assembled.settings or SettingsSpec(),
        digest=digest_of(files),
        sources=tuple(s.name for s in files),
        pools=assembled.pools,
        where=assembled.where,
        warnings=tuple(assembled.warnings),
        retries=tuple(sorted(assembled.retries, key=lambda p: (p.spec.order, p.name))),
    )


@dataclass
class _Assembled:
    policies: list[PlacementPolicy] = field(default_factory=list)
    settings: SettingsSpec | None = None
    pools: dict[str, NodePool] = field(default_factory=dict)
    where: dict[str, Problem] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)  # of spec.add.annotations
    retries: list[RetryPolicy] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    pool_documents: dict[str, Parsed[SetDocument]] = field(default_factory=dict)


def _refused_pools(files: Sequence[Source], documents: list[Parsed[SetDocument]]) -> set[str]:
    """The names of NodePool documents that were refused: a policy naming one is not told
    again, as a second error, that no such pool exists."""
    named = set()
    for source in files:
        nodes, _ = compose_documents(source.name, source.data)
        for _, node in nodes:
            name = _scalar(node, ("metadata", "name"))
            if _scalar(node, ("kind",)) == "NodePool" and name is not None:
                named.add(name)
    return named - {d.value.name for d in documents if isinstance(d.value, NodePool)}


def _scalar(node: yaml.Node, path: tuple[str, ...]) -> str | None:
    """The text of the scalar at `path` in a document's mapping nodes, if there is one."""
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = [value for k, value in node.value if k.value == key]
        if not found:
            return None
        node = found[0]
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _assemble(documents: list[Parsed[SetDocument]], refused: set[str]) -> _Assembled:
    """Rules across documents: one PolicySettings at most, names unique per kind, pools told
    apart by their labels, every pool a policy names declared, a spot pool for RetryPolicies
    to act on."""
    out = _Assembled()
    defined: dict[str, str] = {}  # "<kind>/<name>" -> file
    for doc in documents:
        value = doc.value
        if isinstance(value, PolicySettings):
            if out.settings is not None:
                message = "only one PolicySettings document is allowed per set"
                out.problems.append(doc.problem((), message, field=("kind",)))
            out.settings = value.spec
            out.where[SETTINGS] = doc.problem(("spec",), "")
            continue
        key = f"{value.kind}/{value.name}"
        if key in defined:
            message = f"{_noun(value)} {value.name!r} is already defined in {defined[key]}"
            out.problems.append(doc.problem(("metadata", "name"), message))
            continue
        defined[key] = doc.file
        if isinstance(value, NodePool):
            out.pools[value.name] = value
            out.pool_documents[value.name] = doc
        elif isinstance(value, RetryPolicy):
            out.where[key] = doc.problem(("spec",), "")
            out.retries.append(value)
        else:
            out.where[value.name] = doc.problem(("spec", "add"), "")
            at = line_of(doc.node, ("spec", "add", "annotations"))
            out.origins[value.name] = (doc.file, doc.index, at)
            out.policies.append(value)
    _pools_told_apart(out)
    out.problems += [p for doc in documents for p in _pool_references(doc, out.pools, refused)]
    spot = [needs_a_spot_pool(out.pools, out.where[f"RetryPolicy/{r.name}"]) for r in out.retries]
    out.problems += [p for p in spot if p is not None]
    return out


def _pools_told_apart(out: _Assembled) -> None:
    """Pools whose labels cannot tell them apart: refused when a pod placed on one can land on
    the other and they differ in capacity type, taints or extended resources; a warning when
    the other may carry the labels (it leaves them unstated) and their capacity types differ.
    Each is reported at the pool declared last."""
    order = list(out.pools)
    for overlap in overlaps(list(out.pools.values())):
        later = max(overlap.placed.name, overlap.lands.name, key=order.index)
        doc = out.pool_documents[later]
        if overlap.certain and overlap.differences():
            out.problems.append(doc.problem(("spec", "nodeLabels"), overlap.refusal()))
        elif not overlap.certain and overlap.placed.spot != overlap.lands.spot:
            out.warnings.append(doc.problem(("spec", "nodeLabels"), overlap.warning()))


def _over_annotation_budget(assembled: _Assembled) -> list[Problem]:
    ordered = sorted(assembled.policies, key=lambda p: (p.spec.order, p.name))
    try:
        check_annotation_budget(ordered, assembled.settings or SettingsSpec(), assembled.origins)
    except PolicyError as exc:
        return list(exc.problems)
    return []


def _noun(value: PlacementPolicy | NodePool | RetryPolicy) -> str:
    if isinstance(value, RetryPolicy):
        return "retry policy"
    return "node pool" if isinstance(value, NodePool) else "policy"


def _pool_references(
    doc: Parsed[SetDocument], pools: Mapping[str, NodePool], refused: set[str]
) -> list[Problem]:
    value = doc.value
    if not isinstance(value, PlacementPolicy):
        return []
    add = value.spec.add
    locs = [("pool",)] if add.pool else [("pools", i) for i in range(len(add.pools))]
    names = [add.pool] if add.pool else list(add.pools)
    problems = []
    for loc, name in zip(locs, names, strict=True):
        if name not in pools and name not in refused:
            known = ", ".join(sorted(pools)) or "none declared"
            message = f"no NodePool {name!r} in the set (pools: {known})"
            problems.append(doc.problem(("spec", "add", *loc), message))
    named = [pools[n] for n in names if n in pools]
    if len(names) > 1 and len(named) == len(names) and not preference_key(named, pools.values()):
        why = why_no_preference_key(named, pools.values())
        message = "the pools of a preference need a node label key whose values admit them and "
        message += f"no other pool, for the term that requires them: {why}"
        problems.append(doc.problem(("spec", "add", "pools"), message))
    return problems
