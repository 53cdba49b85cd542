"""deploy/check_policy_configmap.py, the check a team runs in CI: every policy file of a
directory is in the ConfigMap its overlay renders, and that ConfigMap's set is valid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.overlays import DEPLOY, TEAM_POLICY, own_policies, rel

REPO = DEPLOY.parent
CHECK = DEPLOY / "check_policy_configmap.py"
GENERATOR = "pod-placement-webhook-policies"


def check(overlay: Path, policies: Path) -> subprocess.CompletedProcess[str]:
    # The venv's bin first: kubectl and placement-webhook, as a team's CI has them on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, str(CHECK), str(overlay), str(policies)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def generators() -> list[tuple[Path, Path]]:
    """(kustomization directory, policy directory) of every policy generator in the repo."""
    found = []
    for name in ("Kustomization", "kustomization.yaml"):
        for path in REPO.rglob(name):
            if ".venv" in path.parts:
                continue
            kustomization = yaml.safe_load(path.read_text())
            for generator in kustomization.get("configMapGenerator") or []:
                if generator["name"] == GENERATOR:
                    (directory,) = {(path.parent / f).parent for f in generator["files"]}
                    found.append((path.parent, directory))
    return sorted(found)


def test_the_repository_has_two_policy_generators() -> None:
    assert generators() == [
        (REPO / "examples" / "own-policies", REPO / "examples" / "own-policies" / "policies"),
        (REPO / "policies", REPO / "policies"),
    ]


@pytest.mark.parametrize("kustomization, policies", generators(), ids=lambda p: p.name)
def test_every_generator_lists_every_policy_file(kustomization: Path, policies: Path) -> None:
    done = check(kustomization, policies)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("ok: the ConfigMap holds")


def test_the_install_serves_the_shipped_directory() -> None:
    done = check(DEPLOY, REPO / "policies")
    assert done.returncode == 0, done.stderr


def test_a_policy_file_missing_from_the_generator_fails(tmp_path: Path) -> None:
    root = own_policies(tmp_path / "team", rel(tmp_path / "team", DEPLOY))
    (root / "policies" / "spot.yaml").write_text(TEAM_POLICY.replace("team-gpu", "team-spot"))
    done = check(root, root / "policies")
    assert done.returncode == 1
    assert "spot.yaml: not in the ConfigMap: add it to the configMapGenerator" in done.stderr
    # placement-webhook check alone passes on the directory: this is what it misses.
    bare = subprocess.run(
        [Path(sys.executable).parent / "placement-webhook", "check", root / "policies"],
        capture_output=True,
        check=False,
    )
    assert bare.returncode == 0


def test_an_invalid_set_in_the_config_map_fails(tmp_path: Path) -> None:
    root = own_policies(tmp_path / "team", rel(tmp_path / "team", DEPLOY))
    (root / "policies" / "gpu.yaml").write_text(TEAM_POLICY.replace("order: 0", "ordr: 0"))
    done = check(root, root / "policies")
    assert done.returncode == 1
    assert "ordr" in done.stderr


def test_an_overlay_that_does_not_render_fails(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing]\n")
    done = check(tmp_path, tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("error: kubectl kustomize")
