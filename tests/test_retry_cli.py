"""The command line on Jobs, CronJobs and Argo workflows: `mutate` prints what they gain,
`preview` lists their pods with the RetryPolicy, `test` runs `object` cases, `check` proves the
retries beside the placement; and the runnable example of docs/policies.md, run as written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.kube import apply_both
from tests.pods import SHIPPED_POLICIES
from webhook.tools.cli import main

REPO = Path(__file__).resolve().parent.parent
CASES = Path(__file__).parent / "cases" / "retries"
BIN = Path(sys.executable).parent / "placement-webhook"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def case(name: str) -> Path:
    return CASES / f"{name}.in.yaml"


# --- mutate ----------------------------------------------------------------------------------


def test_mutate_prints_the_job_with_its_retries(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "mutate", str(case("job-docs-pi")))
    assert code == 0 and err == ""
    job = yaml.safe_load(out)
    assert job["spec"]["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    ]
    assert job["spec"]["podReplacementPolicy"] == "Failed"


def test_mutate_patch_is_what_kubectl_applies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mutate", str(case("kfp-v1-coin")), "--patch")
    assert code == 0
    before = yaml.safe_load(case("kfp-v1-coin").read_text())
    after = apply_both(before, json.loads(out))
    assert after["spec"]["templateDefaults"]["retryStrategy"]["retryPolicy"] == "OnError"


def test_mutate_explain_shows_each_pod_judged_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "mutate", str(case("cronjob-kubectl-create")), "--explain", "--color", "never"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "- CronJob pod: ng-name In [job]; tol job:NoSchedule -> job (spot: job)"
    assert lines[2] == "! spot-retries: matched, added nothing (restart-policy)"
    assert "(unchanged)" in lines
    assert err.startswith("warning: retry policy spot-retries: no podFailurePolicy rule")


def test_mutate_explain_names_the_workflows_own_decision(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "mutate", str(case("argo-template-defaults")), "--explain")
    assert "note: spec.templateDefaults.retryStrategy is the workflow's own" in out


def test_mutate_refuses_what_it_cannot_mutate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    code, _, err = run(capsys, "mutate", str(deployment))
    assert code == 1
    assert err == f"error: {deployment} is not a Pod, Job, CronJob or Argo workflow manifest\n"


# --- preview ---------------------------------------------------------------------------------


def test_preview_lists_a_workflows_pods_and_the_retries_of_jobs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys,
        "preview",
        "--wide",
        str(case("kfp-v2-hello-world")),
        str(case("job-docs-pi")),
        str(case("cronjob-kubectl-create")),
    )
    assert code == 0
    table = out.split("\n\n")[0] if "\n\n" in out else out
    lines = [line for line in table.splitlines()[1:] if not line[:1].isdigit()]
    rows = {line.split()[1]: line.split()[3] for line in lines if "/" in line.split()[1]}
    assert rows == {
        "Workflow/hello-world-:system-container-driver": (
            "workflow-dns,workflow-pack,default-pool,spot-retries"
        ),
        "Workflow/hello-world-:system-container-impl": (
            "batch-cpu-spot,workflow-dns,workflow-pack,spot-retries"
        ),
        "Workflow/hello-world-:system-dag-driver": (
            "workflow-dns,workflow-pack,default-pool,spot-retries"
        ),
        "Job/pi": "batch-cpu-spot,spot-retries",
        "CronJob/nightly": "batch-cpu-spot",  # restartPolicy OnFailure: no rule, a warning
    }
    assert "warning: batch/CronJob/nightly: retry policy spot-retries: no podFailurePolicy" in err


# --- test ------------------------------------------------------------------------------------


def test_policy_tests_run_object_cases(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "test", "--color", "never", str(SHIPPED_POLICIES / "25-spot-retries.test.yaml")
    )
    assert code == 0, out
    assert "7 cases: 7 passed, 0 failed" in out


def test_a_failing_object_case_shows_the_policy_and_the_diff(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shutil.copytree(
        SHIPPED_POLICIES,
        tmp_path / "policies",
        ignore=shutil.ignore_patterns("*.test.yaml", "examples"),
    )
    job = yaml.safe_load(case("job-kubectl-create").read_text())
    test = {
        "apiVersion": "pod-placement-webhook/v1",
        "kind": "PolicyTest",
        "metadata": {"name": "wrong"},
        "spec": {
            "cases": [
                {
                    "name": "expects the wrong retries",
                    "object": job,
                    "expect": {"added": {"spot-retries": {"podReplacementPolicy": "Never"}}},
                },
                {
                    "name": "both a pod and an object",
                    "object": job,
                    "pod": job,
                    "expect": {"added": {}},
                },
            ]
        },
    }
    (tmp_path / "policies" / "wrong.test.yaml").write_text(yaml.safe_dump(test))
    code, out, _ = run(capsys, "test", "--color", "never", str(tmp_path / "policies"))
    assert code == 1
    assert (
        "give `pod` or `object`, not both" in out
        and "2 cases: 0 passed, 0 failed, 2 not run" in out
    )
    test["spec"]["cases"].pop()
    (tmp_path / "policies" / "wrong.test.yaml").write_text(yaml.safe_dump(test))
    code, out, _ = run(capsys, "test", "--color", "never", str(tmp_path / "policies"))
    assert code == 1
    assert "policy spot-retries:" in out and "+podReplacementPolicy: Failed" in out
    assert "-podReplacementPolicy: Never" in out


# --- check -----------------------------------------------------------------------------------


def test_check_proves_the_retries_of_the_shipped_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", str(SHIPPED_POLICIES))
    assert code == 0 and err == ""
    assert out.splitlines()[-1] == (
        "retries: 12 of the 15 representative Job and workflow pods the set sends to spot get "
        "retries from its 1 RetryPolicy"
    )


@pytest.mark.parametrize("cloud", ["aks", "eks", "gke", "karpenter"])
def test_check_finds_every_cloud_example_covered(
    capsys: pytest.CaptureFixture[str], cloud: str
) -> None:
    code, out, err = run(capsys, "check", str(SHIPPED_POLICIES / "examples" / cloud))
    assert code == 0 and err == ""
    assert "get retries from its 1 RetryPolicy" in out


def test_check_warns_of_spot_work_without_retries_and_of_a_policy_that_covers_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(
        SHIPPED_POLICIES, policies, ignore=shutil.ignore_patterns("*.test.yaml", "examples")
    )
    retries = (policies / "25-spot-retries.yaml").read_text()
    retries = retries.replace(
        "workloads: [job, argo-workflow, kubeflow-pipeline, kubeflow-pipeline-driver]",
        "workloads: [job]",
    )
    retries += (
        "---\napiVersion: pod-placement-webhook/v1\nkind: RetryPolicy\n"
        "metadata: {name: notebooks}\nspec:\n  match: {workloads: [notebook]}\n  jobs: {}\n"
    )
    (policies / "25-spot-retries.yaml").write_text(retries)
    code, out, err = run(capsys, "check", str(policies))
    assert code == 0  # warnings only: a set may leave some spot work without retries
    warnings = err.splitlines()
    assert any(
        "a CPU Argo workflow step goes to spot, and no RetryPolicy gives its workflow retries" in w
        for w in warnings
    ), err
    assert any(
        "25-spot-retries.yaml, document 2" in w
        and "retry policy notebooks gives retries to none of the representative" in w
        for w in warnings
    ), err
    assert "retries: 3 of the 15" in out


# --- the documented example ------------------------------------------------------------------


def documented_example() -> tuple[str, str, str]:
    """docs/policies.md's RetryPolicy example: the job.yaml, the command, its output."""
    text = (REPO / "docs" / "policies.md").read_text()
    section = text[text.index("## RetryPolicy") :]
    found = re.search(
        r"```yaml\n# job.yaml\n(.*?)```\n\n```sh\n(.*?)\n```\n\n```\n(.*?)```", section, re.DOTALL
    )
    assert found, "docs/policies.md: the RetryPolicy example lost its job.yaml, command or output"
    return found.group(1), found.group(2), found.group(3)


def test_the_documented_example_prints_what_the_docs_show(tmp_path: Path) -> None:
    job, command, output = documented_example()
    (tmp_path / "job.yaml").write_text(job)
    (tmp_path / "policies").symlink_to(SHIPPED_POLICIES)
    argv = command.split()
    assert argv[0] == "placement-webhook"
    done = subprocess.run(
        [str(BIN), *argv[1:]], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == output
