#!/usr/bin/env python3
"""Prepare a release: `make release VERSION=x.y.z` runs this, then builds the image.

    python3 image/release.py 1.2.0

1. VERSION is a semantic version, and CHANGELOG.md has its entry: a heading
   `## [1.2.0] - YYYY-MM-DD` with at least one line of changes under it. Nothing is changed
   when it is missing.
2. The version is written where it lives: `__version__` in webhook/__init__.py (the package,
   `placement-webhook --version`, /readyz and placement_webhook_build_info read it), and the
   image tag of deploy/ and of examples/own-policies (kustomize `images`, `newTag`).

The image is then built by image/build.sh with that tag (the Makefile does it). Standard
library only: it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHANGELOG = REPO / "CHANGELOG.md"
VERSION_FILE = REPO / "webhook" / "__init__.py"
KUSTOMIZATIONS = (
    REPO / "deploy" / "base" / "kustomization.yaml",
    REPO / "examples" / "own-policies" / "kustomization.yaml",
)
IMAGE_NAME = "pod-placement-webhook"  # the image's name in deploy/, which `images:` retags
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?")
VERSION_LINE = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)


class ReleaseError(Exception):
    """Why the release cannot be made; nothing was changed."""


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: make release VERSION=x.y.z", file=sys.stderr)
        return 2
    version = argv[0]
    try:
        check_version(version)
        check_changelog(CHANGELOG.read_text(), version)
        files = {VERSION_FILE: set_version(VERSION_FILE.read_text(), version)}
        files |= {path: set_image_tag(path.read_text(), version) for path in KUSTOMIZATIONS}
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path, text in files.items():  # written only once every file could be changed
        path.write_text(text)
        print(f"{path.relative_to(REPO)}: {version}")
    return 0


def check_version(version: str) -> None:
    if not SEMVER.fullmatch(version):
        raise ReleaseError(f"VERSION must be a semantic version such as 1.2.0, got {version!r}")


def check_changelog(text: str, version: str) -> None:
    """The entry of `version`: its heading, dated, and some text before the next heading."""
    heading = re.compile(rf"^## \[{re.escape(version)}\] - (\d{{4}}-\d{{2}}-\d{{2}})$", re.M)
    found = heading.search(text)
    if found is None:
        raise ReleaseError(
            f"CHANGELOG.md has no entry for {version}: add a heading "
            f"'## [{version}] - YYYY-MM-DD' with the changes a user should know about"
        )
    following = re.search(r"^## ", text[found.end() :], re.MULTILINE)
    body = text[found.end() : found.end() + following.start() if following else len(text)]
    if not body.strip():
        raise ReleaseError(f"CHANGELOG.md's entry for {version} lists no changes")


def set_version(text: str, version: str) -> str:
    if len(VERSION_LINE.findall(text)) != 1:
        raise ReleaseError(f"{VERSION_FILE}: no single __version__ line")
    return VERSION_LINE.sub(f'__version__ = "{version}"', text)


def set_image_tag(text: str, version: str) -> str:
    """`newTag` of the `images:` entry named pod-placement-webhook, set to `version` (the
    entry's other fields and every comment are kept)."""
    entry = re.compile(
        rf"(^(?P<indent> *)- name: {IMAGE_NAME}\n(?:(?P=indent)  .*\n)*?(?P=indent)  newTag: )"
        r"\S+$",
        re.MULTILINE,
    )
    changed, count = entry.subn(lambda m: f"{m.group(1)}{version}", text)
    if count != 1:
        raise ReleaseError(f"no single `newTag` for the image {IMAGE_NAME} under `images:`")
    return changed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
