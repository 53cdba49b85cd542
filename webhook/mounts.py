"""Reading files that kubelet mounts from a ConfigMap or a Secret as one consistent version.

kubelet (pkg/volume/util/atomic_writer.go) writes each version of a volume into a fresh hidden
directory `..<timestamp>`, points the symlink `..data` at it with an atomic rename, then adds or
removes the per-key symlinks (`key -> ..data/key`) and deletes the old directory. Reading the
keys one by one can straddle a swap (the first file old, the next one new); reading from the
resolved `..data` target cannot, because a version's directory never changes once written.
Outside kubelet (plain files on a laptop) the same functions read the files as they are.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from webhook.errors import PolicyError
from webhook.policy.load import PolicySet, parse_policy_set, policy_files
from webhook.policy.yamlsafe import read_capped

DATA_LINK = "..data"
ATTEMPTS = 3

T = TypeVar("T")


class MountChanging(OSError):
    """The files kept changing while being read (kubelet swapped on every attempt)."""


def version_link(root: Path) -> Path:
    """What names the current version of `root`: the symlink `root/..data` on a kubelet
    volume (it is swapped atomically), else `root` itself."""
    link = root / DATA_LINK
    return link if link.is_symlink() else root


def _resolve(paths: Sequence[Path]) -> tuple[Path, ...]:
    return tuple(Path(os.path.realpath(p)) for p in paths)


def read_stable(paths: Sequence[Path], read: Callable[[tuple[Path, ...]], T]) -> T:
    """`read(resolved paths)`, retried when a swap happened meanwhile: the paths resolved the
    same before and after, so the result comes from one version. Raises MountChanging when
    every attempt straddled a swap; other errors of `read` pass through."""
    for _ in range(ATTEMPTS):
        before = _resolve(paths)
        try:
            result = read(before)
        except (OSError, PolicyError):
            # The version directory was deleted after our resolve: kubelet swapped meanwhile.
            if _resolve(paths) == before:
                raise
            continue
        if _resolve(paths) == before:
            return result
    raise MountChanging(f"{', '.join(map(str, paths))} changed during {ATTEMPTS} reads")


def read_policy_sources(roots: Sequence[Path]) -> list[tuple[str, bytes]]:
    """The policy files under `roots` as (name, bytes), every root read from one version.

    Names are the user-visible paths (`root/key`, not `root/..2026_.../key`) so error messages
    and the set's digest do not change with kubelet's timestamped directories.
    """
    sources: list[tuple[str, bytes]] = []
    for root in roots:
        sources += read_stable([version_link(root)], partial(_read_root, root))
    return sources


def load_policies(roots: Sequence[Path]) -> PolicySet:
    """Like `load_policy_set`, but each kubelet-mounted root is read from a single version."""
    return parse_policy_set(read_policy_sources(roots))


def _read_root(root: Path, resolved: tuple[Path, ...]) -> list[tuple[str, bytes]]:
    version = resolved[0]
    return [(str(root / f.relative_to(version)), read_capped(f)) for f in policy_files(version)]


def digest_of(sources: Sequence[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in sources:
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()
