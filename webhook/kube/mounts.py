"""Reading files that kubelet mounts from a ConfigMap or a Secret as one consistent version.

kubelet (pkg/volume/util/atomic_writer.go) writes each version of a volume into a fresh hidden
directory `..<timestamp>`, points the symlink `..data` at it with an atomic rename, then adds or
removes the per-key symlinks (`key -> ..data/key`) and deletes the old directory. Reading the
keys one by one can straddle a swap (the first file old, the next one new); reading from the
resolved `..data` target cannot, because a version's directory never changes once written.
Outside kubelet (plain files on a laptop) the same functions read the files as they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

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
        except OSError:
            # The version directory was deleted after our resolve: kubelet swapped meanwhile.
            if _resolve(paths) == before:
                raise
            continue
        if _resolve(paths) == before:
            return result
    raise MountChanging(f"{', '.join(map(str, paths))} changed during {ATTEMPTS} reads")
