"""The container image, checked without a Docker engine: the Dockerfile's rules, its build
context, and what its build stage does (a wheel from the copied sources, installed into a
clean virtual environment, runs the CLI on the packaged default policies)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import yaml

from webhook import __version__
from webhook.policy.load import policy_files

REPO = Path(__file__).resolve().parent.parent
Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    out = []
    for line in lines:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def base_image() -> str:
    args = dict(a.split("=", 1) for w, a in instructions() if w == "ARG" and "=" in a)
    return args["PYTHON_IMAGE"]


def copy_sources(stage: list[Instruction]) -> list[str]:
    sources = []
    for word, rest in stage:
        if word == "COPY" and "--from=" not in rest:
            sources += rest.split()[:-1]
    return sources


def test_base_image_is_a_pinned_slim_python() -> None:
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+", base_image()), base_image()
    for stage in stages():
        assert stage[0][1].split()[0] == "${PYTHON_IMAGE}"


def test_final_stage_runs_the_cli_as_non_root_without_build_tools() -> None:
    final = stages()[-1]
    (user,) = [rest for word, rest in final if word == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root user (runAsNonRoot needs it)"
    (entrypoint,) = [rest for word, rest in final if word == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["placement-webhook"]
    for word, rest in final:
        if word == "COPY":
            assert rest.startswith("--from=build"), "only the built environment is copied"
        if word == "RUN":
            assert not re.search(
                r"apt-get install|apk add|pip install|gcc|build-essential", rest
            ), rest
    assert len(stages()) == 2


def test_default_command_reads_the_paths_the_deployment_mounts() -> None:
    (cmd,) = [rest for word, rest in stages()[-1] if word == "CMD"]
    command = json.loads(cmd)
    rendered = subprocess.run(
        [str(Path(sys.executable).parent / "kubectl"), "kustomize", str(REPO / "deploy")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (deployment,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert command[0] == args[0] == "serve"
    for flag in ("--policies=", "--cert-file=", "--key-file="):
        assert [a for a in command if a.startswith(flag)] == [a for a in args if a.startswith(flag)]


def ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics for a top-level path: the last matching pattern wins."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, bare):
            verdict = not negate
    return verdict


def test_copy_sources_exist_and_reach_the_build_context() -> None:
    patterns = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    sources = copy_sources(stages()[0])
    assert sources, "the build stage copies the sources"
    for source in sources:
        assert (REPO / source).exists(), source
        assert not ignored(source, patterns), f"{source} is excluded by .dockerignore"
    for secret in (".git", ".venv", "certs", "tests", "bench"):
        assert ignored(secret, patterns), f"{secret} must stay out of the image context"


@pytest.mark.slow
def test_wheel_from_the_copied_sources_runs_on_its_packaged_policies(tmp_path: Path) -> None:
    # The build context as the Dockerfile copies it (symlinks kept, as Docker keeps them).
    context = tmp_path / "context"
    context.mkdir()
    for source in copy_sources(stages()[0]):
        src = REPO / source
        if src.is_dir():
            shutil.copytree(
                src, context / source, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(src, context / source)
    assert (context / "webhook" / "defaults").is_symlink()
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            ".",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            "--verbose",
        ],
        cwd=context,
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = (tmp_path / "wheels").glob("pod_placement_webhook-*.whl")
    # The one version source, and a build that warns about nothing in pyproject.toml (the
    # licence table setuptools deprecated).
    assert wheel.name.startswith(f"pod_placement_webhook-{__version__}-")
    assert "project.license" not in built.stdout + built.stderr

    # A clean environment: the wheel alone, its dependencies borrowed from the test venv's
    # site-packages (no network), never this checkout.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [str(env_dir / "bin" / "placement-webhook"), *args],
            cwd=tmp_path,
            env=clean,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    packaged = site / "webhook" / "defaults"
    assert packaged.is_dir() and not packaged.is_symlink()
    shipped = policy_files(REPO / "policies")
    assert [p.name for p in policy_files(packaged)] == [p.name for p in shipped]
    for policy in shipped:
        assert (packaged / policy.name).read_bytes() == policy.read_bytes()
    assert cli("check", str(packaged)).startswith("ok: ")
    assert cli("--version") == f"placement-webhook {__version__}\n"
    pod = tmp_path / "pod.yaml"
    pod.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "ml"},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            }
        )
    )
    # No --policies: the packaged default set, found inside the installed package.
    mutated = yaml.safe_load(cli("mutate", str(pod)))
    assert mutated["spec"]["affinity"]["nodeAffinity"]
