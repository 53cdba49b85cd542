"""requirements.lock, the image's pinned dependencies: every requirement of pyproject.toml
(dependencies and build requirements) is pinned there, at a version it allows, with hashes, and
the Dockerfile installs from it in hash-checking mode. Refresh with `make lock`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"


def pins() -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes), from pip's requirements format."""
    found: dict[str, tuple[Version, int]] = {}
    text = LOCK.read_text()
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = entry.split("\\", 1)[0].split(";", 1)[0].strip()
        if head.startswith("#") or not head:
            continue
        name, _, version = head.partition("==")
        assert version, f"not pinned: {head}"
        found[canonicalize_name(name)] = (Version(version), entry.count("--hash=sha256:"))
    return found


def test_every_requirement_of_the_project_is_pinned_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    requirements = [
        Requirement(r)
        for r in project["project"]["dependencies"] + project["build-system"]["requires"]
    ]
    pinned = pins()
    for requirement in requirements:
        version, hashes = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), f"{requirement} vs {version}"
        assert hashes >= 1, requirement.name
    assert all(hashes >= 1 for _, hashes in pinned.values())


def test_the_lock_says_how_to_refresh_it() -> None:
    assert "#    make lock" in LOCK.read_text().splitlines()[1]


def test_the_dockerfile_installs_the_lock_in_hash_checking_mode() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY requirements.lock" in dockerfile
    assert "--require-hashes" in dockerfile and "--requirement requirements.lock" in dockerfile
    # The package itself: no dependency resolution, nothing downloaded.
    assert "--no-index --no-deps --no-build-isolation ." in dockerfile
    # A BuildKit frontend line would pull an image from Docker Hub: offline builds fail.
    assert "# syntax=" not in dockerfile
