"""Releases as a maintainer makes them: `make release VERSION=x.y.z` in a copy of this
repository. It refuses a version without its CHANGELOG.md entry and changes nothing; with one it
writes the version where it lives and builds the image with that tag, whose CLI then says it.

The image build needs the system tools (tests/system_tools.py) and the Debian stand-in base
`make image-debian-base` makes, as the smoke test does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.container import PODMAN
from tests.system_tools import require
from tests.test_deploy import REPO, one, render
from webhook import __version__

pytestmark = pytest.mark.timeout(900)

VERSION = "9.8.7"
ENTRY = f"## [{VERSION}] - 2026-12-06\n\n### Fixed\n\n- Something a user would notice.\n\n"
CHANGED_BY_A_RELEASE = (
    "webhook/__init__.py",
    "deploy/base/kustomization.yaml",
    "examples/own-policies/kustomization.yaml",
)
DEBIAN_BASE = "localhost/python-base:3.11-slim-bookworm"  # the Makefile's DEBIAN_PYTHON_IMAGE
# podman's default ulimits exceed what runc may set on these machines (as in the smoke test).
LIMITS = ["--ulimit=nofile=1024:20000", "--ulimit=nproc=4096:4096"]


def repository_copy(to: Path) -> Path:
    """This checkout's files, tracked or new (not ignored), symlinks kept: what a clone of it
    with these changes committed would hold."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, target = REPO / name, to / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return to


def with_entry(copy: Path, entry: str = ENTRY) -> None:
    changelog = copy / "CHANGELOG.md"
    text = changelog.read_text()
    first = text.index("\n## ")
    changelog.write_text(text[: first + 1] + entry + text[first + 1 :])


def make_release(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-C", str(copy), "release", f"VERSION={VERSION}", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def snapshot(copy: Path) -> dict[str, bytes]:
    return {name: (copy / name).read_bytes() for name in CHANGED_BY_A_RELEASE}


def cli_version(copy: Path) -> str:
    """`placement-webhook --version` run from the copy's own sources."""
    return subprocess.run(
        [sys.executable, "-m", "webhook.tools.cli", "--version"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


# --- the checks ----------------------------------------------------------------------------


def test_a_version_without_its_changelog_entry_is_refused_and_nothing_changes(
    tmp_path: Path,
) -> None:
    copy = repository_copy(tmp_path / "repo")
    before = snapshot(copy)
    done = make_release(copy)
    assert done.returncode != 0
    assert f"CHANGELOG.md has no entry for {VERSION}: add a heading" in done.stderr
    assert snapshot(copy) == before


def test_an_entry_that_lists_no_changes_is_refused(tmp_path: Path) -> None:
    copy = repository_copy(tmp_path / "repo")
    with_entry(copy, f"## [{VERSION}] - 2026-12-06\n\n")
    done = make_release(copy)
    assert done.returncode != 0 and "lists no changes" in done.stderr


@pytest.mark.parametrize("version", ["1.2", "v1.2.0", "1.2.0\n", "01.2.0"])
def test_a_version_that_is_not_semantic_is_refused(version: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "image" / "release.py"), version],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "must be a semantic version" in done.stderr


def test_the_version_is_written_where_the_package_and_the_manifests_read_it(
    tmp_path: Path,
) -> None:
    copy = repository_copy(tmp_path / "repo")
    with_entry(copy)
    subprocess.run([sys.executable, "image/release.py", VERSION], cwd=copy, check=True)
    assert cli_version(copy) == f"placement-webhook {VERSION}\n"
    deployment = one(render(copy / "deploy"), "Deployment")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"pod-placement-webhook:{VERSION}"
    example = one(render(copy / "examples" / "own-policies"), "Deployment")
    image = example["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"registry.example.com/platform/pod-placement-webhook:{VERSION}"
    comments = (copy / "deploy" / "base" / "kustomization.yaml").read_text().count("#")
    assert comments == (REPO / "deploy" / "base" / "kustomization.yaml").read_text().count("#")


def test_the_shipped_manifests_run_the_version_of_the_sources() -> None:
    for directory in (REPO / "deploy", REPO / "examples" / "own-policies"):
        image = one(render(directory), "Deployment")["spec"]["template"]["spec"]["containers"][0]
        assert image["image"].endswith(f"pod-placement-webhook:{__version__}"), directory


def test_the_changelog_says_how_to_release_and_has_an_entry_per_version_heading() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    assert "make release VERSION=x.y.z" in text
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.MULTILINE)
    assert headings and headings[0][0] == "Unreleased"
    assert all(date for name, date in headings[1:]), "every released version has its date"


# --- the real image ------------------------------------------------------------------------


def test_make_release_builds_the_image_with_that_tag_and_its_cli_says_the_version(
    tmp_path: Path,
) -> None:
    require("buildah", "podman", "runc", "mmdebstrap")
    base = subprocess.run(
        ["make", "-C", str(REPO), "image-debian-base"], capture_output=True, text=True, check=False
    )
    assert base.returncode == 0, base.stdout + base.stderr
    copy = repository_copy(tmp_path / "repo")
    with_entry(copy)
    repository = "localhost/pod-placement-webhook-release-test"
    image = f"{repository}:{VERSION}"
    try:
        done = make_release(copy, f"RELEASE_REPOSITORY={repository}", f"PYTHON_IMAGE={DEBIAN_BASE}")
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        label = subprocess.run(
            [*PODMAN, "image", "inspect", "--format",
             '{{index .Labels "org.opencontainers.image.version"}}', image],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert label == VERSION
        ran = subprocess.run(
            [*PODMAN, "run", "--rm", "--network=none", *LIMITS, image, "--version"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert ran.stdout == f"placement-webhook {VERSION}\n", ran.stderr
        deployment = one(render(copy / "deploy"), "Deployment")
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
            f":{VERSION}"
        )
    finally:
        subprocess.run([*PODMAN, "rmi", "--force", image], capture_output=True, check=False)
