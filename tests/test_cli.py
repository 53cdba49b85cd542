"""`placement-webhook mutate`, `check` and `schema`, called as `webhook.cli.main([...])`, and
once through the installed console script."""

from __future__ import annotations

import importlib.metadata
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube import apply_both
from tests.pods import PROVENANCE, plain
from webhook import __version__
from webhook.tools.cli import main

CASES = Path(__file__).parent / "cases"
ARGO_GPU = CASES / "argo-gpu-step.in.yaml"
BARE = CASES / "bare-pod.in.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def expected(name: str) -> Any:
    return yaml.safe_load((CASES / f"{name}.out.yaml").read_text())


def test_mutate_prints_the_mutated_pod_as_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "mutate", str(ARGO_GPU))
    assert code == 0
    assert err == ""
    assert yaml.safe_load(out) == expected("argo-gpu-step")


def test_mutate_patch_prints_json_patch_that_kubectl_applies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "mutate", str(ARGO_GPU), "--patch")
    assert code == 0
    ops = json.loads(out)
    assert {op["op"] for op in ops} == {"add"}
    before = yaml.safe_load(ARGO_GPU.read_text())
    assert apply_both(before, ops) == expected("argo-gpu-step")


def test_mutate_explain_shows_each_policy_and_what_it_added(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "mutate", str(ARGO_GPU), "--explain", "--color", "never")
    assert code == 0
    lines = out.splitlines()
    policy_part = lines[: lines.index("--- pod (before)")]
    headlines = [line for line in policy_part if line[:2] in ("+ ", "- ")]
    assert headlines == [
        "+ extended-resource-tolerations: matched, added tolerations",
        "- stateful-on-demand: not matched: workload argo-workflow not in "
        "['data-store', 'jupyterhub', 'model-server', 'notebook', 'statefulset']",
        "- no-evict-on-demand: not matched: annotation "
        "cluster-autoscaler.kubernetes.io/safe-to-evict not in ['false']",
        "+ batch-gpu-spot: matched, added nodeAffinity.required",
        "- batch-cpu-spot: not matched: requests extended resources ['nvidia.com/gpu']",
        "+ workflow-dns: matched, added dnsConfig.options",
        "+ workflow-pack: matched, added podAffinity.preferred",
        "- default-pool: not matched: requests extended resources ['nvidia.com/gpu']",
    ]

    # Under each matched policy, the YAML of exactly what it added.
    def block(headline: str) -> Any:
        start = lines.index(headline) + 1
        end = next(i for i in range(start, len(lines)) if not lines[i].startswith("    "))
        return yaml.safe_load("\n".join(line[4:] for line in lines[start:end]))

    assert block("+ extended-resource-tolerations: matched, added tolerations") == {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    }
    assert block("+ batch-gpu-spot: matched, added nodeAffinity.required") == {
        "nodeAffinity.required": [
            {
                "key": "k8s.amazonaws.com/accelerator",
                "operator": "In",
                "values": ["nvidia-tesla-v100"],
            },
            {"key": "ng-name", "operator": "In", "values": ["g1"]},
        ]
    }
    assert block("+ workflow-dns: matched, added dnsConfig.options") == {
        "dnsConfig.options": [{"name": "ndots", "value": "1"}]
    }
    assert block("+ workflow-pack: matched, added podAffinity.preferred")["podAffinity.preferred"][
        0
    ]["podAffinityTerm"]["topologyKey"] == ("kubernetes.io/hostname")
    # Then a diff of the pod.
    assert "--- pod (before)" in lines
    assert "+++ pod (after)" in lines
    assert "\033[" not in out


def test_mutate_explain_in_color(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "mutate", str(ARGO_GPU), "--explain", "--color", "always")
    assert "\033[32m+" in out


def test_mutate_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ARGO_GPU.read_bytes())))
    code, out, _ = run(capsys, "mutate", "-")
    assert code == 0
    assert yaml.safe_load(out) == expected("argo-gpu-step")


def test_mutate_reads_a_json_pod(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(yaml.safe_load(BARE.read_text())))
    code, out, _ = run(capsys, "mutate", str(path))
    assert code == 0
    assert yaml.safe_load(out) == expected("bare-pod")


def test_mutate_namespace_overrides_the_pods_own(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mutate", str(BARE), "--namespace", "kube-system", "--patch")
    assert code == 0
    assert json.loads(out) == []
    code, out, _ = run(capsys, "mutate", str(BARE), "--namespace", "ml", "--patch")
    assert [op["path"] for op in json.loads(out)] == [
        "/spec/affinity",
        "/metadata/annotations",
    ]


def test_mutate_a_pod_without_namespace_runs_in_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pod = yaml.safe_load(BARE.read_text())
    del pod["metadata"]["namespace"]
    path = tmp_path / "pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    _, out, _ = run(capsys, "mutate", str(path))
    assert yaml.safe_load(out)["metadata"]["annotations"] == {PROVENANCE: "default-pool"}


POLICY = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: team-{n}
spec:
  order: {n}
  match:
    namespaceSelector:
      matchLabels: {{team: ml}}
  add:
    annotations: {{example.com/owner: team-{n}}}
"""


@pytest.fixture
def team_policies(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    root.mkdir()
    for n in (1, 2):
        (root / f"{n}.yaml").write_text(POLICY.format(n=n))
    return root


def test_mutate_with_own_policies_namespace_labels_and_warnings(
    capsys: pytest.CaptureFixture[str], team_policies: Path
) -> None:
    code, out, err = run(
        capsys, "mutate", str(BARE), "--policies", str(team_policies),
        "--namespace-labels", "team=ml,env=prod",
    )  # fmt: skip
    assert code == 0
    assert yaml.safe_load(out)["metadata"]["annotations"] == {
        "example.com/owner": "team-1",
        PROVENANCE: "team-1",
    }
    assert err == "warning: policy team-2: annotation example.com/owner kept from policy team-1\n"
    # Without the namespace's labels, a namespaceSelector never matches.
    code, out, _ = run(capsys, "mutate", str(BARE), "--policies", str(team_policies), "--patch")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mutate", "missing.yaml"], "error: cannot read the pod: missing.yaml: cannot read: "),
        (["mutate", str(CASES)], "error: cannot read the pod: "),
        (["mutate", str(BARE), "--namespace-labels", "team"], "error: --namespace-labels takes"),
        (["mutate", str(BARE), "--policies", "nowhere"], "error: nowhere: no such policy"),
    ],
    ids=["a missing pod file", "a directory", "labels that are not k=v", "missing policies"],
)
def test_mutate_errors_exit_1_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_mutate_refuses_what_is_not_a_pod(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
    assert run(capsys, "mutate", str(path)) == (
        1,
        "",
        f"error: {path} is not a Pod, Job, CronJob or Argo workflow manifest\n",
    )


def test_mutate_does_not_change_the_input_file(capsys: pytest.CaptureFixture[str]) -> None:
    before = ARGO_GPU.read_bytes()
    run(capsys, "mutate", str(ARGO_GPU))
    assert ARGO_GPU.read_bytes() == before


def test_check_reads_several_paths_as_one_set(
    capsys: pytest.CaptureFixture[str], team_policies: Path
) -> None:
    # The file and its directory: team-1 is defined twice in the set.
    code, out, err = run(capsys, "check", str(team_policies / "1.yaml"), str(team_policies))
    assert (code, out) == (1, "")
    assert err == (
        f"error: {team_policies / '1.yaml'}, document 1, line 4: metadata.name: policy 'team-1' "
        f"is already defined in {team_policies / '1.yaml'}\n"
    )


def test_check_ok(capsys: pytest.CaptureFixture[str], team_policies: Path) -> None:
    code, out, err = run(capsys, "check", str(team_policies))
    assert (code, err) == (0, "")
    assert out.startswith("ok: 2 policies, 0 node pools in 2 files (digest ")


def test_schema_is_json_with_both_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "PlacementPolicy" in out and "PolicySettings" in out


def console_script() -> str:
    found = shutil.which("placement-webhook", path=str(Path(sys.executable).parent))
    found = found or shutil.which("placement-webhook")
    assert found, "the console script is not installed (pip install -e .)"
    return found


def test_the_console_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [console_script(), "mutate", "-", "--explain", "--color", "never"],
        input=ARGO_GPU.read_bytes(), capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"+ batch-gpu-spot: matched, added nodeAffinity.required" in done.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: pod-placement-webhook/v1\nkind: Policy\n")
    done = subprocess.run([console_script(), "check", str(bad)], capture_output=True, check=False)
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr.decode() == (
        f"error: {bad}, document 1, line 2: kind: unknown kind 'Policy': expected one of "
        "PlacementPolicy, PolicySettings, NodePool, RetryPolicy\n"
    )
    assert plain(
        json.loads(
            subprocess.run([console_script(), "schema"], capture_output=True, check=True).stdout
        )
    )["title"]


def test_version_prints_the_one_version_of_the_package() -> None:
    done = subprocess.run([console_script(), "--version"], capture_output=True, check=False)
    assert (done.returncode, done.stdout) == (0, f"placement-webhook {__version__}\n".encode())
    assert __version__ == importlib.metadata.version("pod-placement-webhook")
