"""A ConfigMap or Secret volume as kubelet writes it, for tests that swap one under a server.

The same steps as kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go): the new version
goes into a fresh `..<timestamp>` directory, a `..data_tmp` symlink to it is renamed over
`..data` (the atomic step), the per-key symlinks `key -> ..data/key` are added or removed, and
the old version's directory is deleted.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

DATA = "..data"
_versions = itertools.count(1)


class Volume:
    """A directory whose content only ever changes the way kubelet changes it."""

    def __init__(
        self,
        root: Path,
        files: Mapping[str, bytes],
        *,
        mode: int | None = None,
        group: int | None = None,
    ) -> None:
        """`mode` and `group`: a Secret's defaultMode and the pod's fsGroup, which kubelet
        applies to every file it writes (files stay owned by root)."""
        self.root = root
        self.mode, self.group = mode, group
        root.mkdir(parents=True, exist_ok=True)
        self.write(files)

    @property
    def version(self) -> str | None:
        link = self.root / DATA
        return os.readlink(link) if link.is_symlink() else None

    def write(self, files: Mapping[str, bytes]) -> None:
        old = self.version
        new = f"..2026_01_01_00_00_00.{next(_versions):09d}"
        (self.root / new).mkdir()
        for name, data in files.items():
            path = self.root / new / name
            path.write_bytes(data)
            if self.group is not None:
                os.chown(path, 0, self.group)
            if self.mode is not None:
                path.chmod(self.mode)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(new)
        tmp.rename(self.root / DATA)
        for name in files:
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(f"{DATA}/{name}")
        for entry in self.root.iterdir():
            if entry.name.startswith(".."):
                continue
            if entry.is_symlink() and entry.name not in files:
                entry.unlink()
        if old is not None:
            shutil.rmtree(self.root / old)

    def files(self) -> dict[str, bytes]:
        return {
            p.name: p.read_bytes()
            for p in sorted(self.root.iterdir())
            if not p.name.startswith(".")
        }
