"""`placement-webhook test`: the policy tests shipped next to the policies pass, and a broken
expectation fails with a readable diff and exit code 1 (run through the real console script)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from webhook.engine import compile_policy_set, mutate
from webhook.policy.load import load_policy_set
from webhook.tools.policytest import find_test_files, read_tests
from webhook.workloads import review_workload

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"
BIN = Path(sys.executable).parent / "placement-webhook"
SETS = [POLICIES, *sorted(p for p in (POLICIES / "examples").iterdir() if p.is_dir())]


def run(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "test", *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False
    )


def row(out: str, file: str, case: str) -> str:
    """The verdict in the table row of `case` in `file`."""
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1].endswith(file) and parts[2].startswith(case):
            return parts[0]
    raise AssertionError(f"no row for {file}: {case} in\n{out}")


def policy_dir(tmp_path: Path, *policies: str, test: str) -> Path:
    for index, text in enumerate(policies):
        (tmp_path / f"{index:02d}.yaml").write_text(text)
    (tmp_path / "set.test.yaml").write_text(test)
    return tmp_path


def policy(name: str, order: int, match: str, add: str, mode: str = "enforce") -> str:
    return f"""\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {{name: {name}}}
spec:
  order: {order}
  mode: {mode}
  match: {match}
  add: {add}
"""


def cases_file(*cases: str) -> str:
    body = "".join(cases)
    return f"""\
apiVersion: pod-placement-webhook/v1
kind: PolicyTest
metadata: {{name: t}}
spec:
  cases:
{body}"""


POD = "{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: i}]}}"


def test_the_shipped_policy_tests_pass():
    done = run("policies/", "--color", "never")
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout
    for path in find_test_files(POLICIES):
        assert str(path.relative_to(REPO)) in done.stdout
    assert "\033[" not in done.stdout


@pytest.mark.parametrize("policy_set", SETS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_policy_is_exercised_by_its_tests(policy_set: Path):
    """Each shipped and example policy changes the pod in at least one case of the tests
    beside it (in audit mode: would change it); each RetryPolicy, the Job or workflow of one."""
    compiled = compile_policy_set(load_policy_set(policy_set))
    exercised: set[str] = set()
    tests = [t for f in policy_set.glob("*.test.yaml") for t in read_tests(f)]
    assert tests, f"no *.test.yaml in {policy_set}"
    for test in tests:
        for case in test.spec.cases:
            namespace = case.namespace or "default"
            if case.object is not None:
                retried = review_workload(compiled, case.object, namespace, case.namespace_labels)
                exercised |= {retried.policy} if retried.ops and retried.policy else set()
                continue
            result = mutate(compiled, case.pod or {}, namespace, case.namespace_labels)
            exercised |= set(result.applied) | set(result.audited)
    assert {p.name for p in compiled.policies} <= exercised
    assert {r.name for r in compiled.source.retries} <= exercised


def test_every_shipped_pod_is_a_valid_pod():
    from tests.kube import validate_pod
    from tests.retries import assert_accepted

    for policy_set in SETS:
        for path in policy_set.glob("*.test.yaml"):
            for test in read_tests(path):
                for case in test.spec.cases:
                    if case.object is not None:  # a Job or workflow (tests/retries.py)
                        assert_accepted(case.object)
                        continue
                    validate_pod(case.pod)
                    if case.expect.pod is not None:
                        validate_pod(case.expect.pod)


def test_a_broken_expectation_fails_with_a_diff(tmp_path: Path):
    shutil.copytree(POLICIES, tmp_path / "policies", ignore=shutil.ignore_patterns("examples"))
    broken = tmp_path / "policies" / "20-batch-spot.test.yaml"
    text = broken.read_text()
    assert text.count("values: [g1]") == 2
    broken.write_text(text.replace("values: [g1]", "values: [g2]", 1))

    done = run("policies", "--color", "never", cwd=tmp_path)

    assert done.returncode == 1
    out = done.stdout
    assert row(out, "policies/20-batch-spot.test.yaml", "a GPU Argo workflow step") == "FAIL"
    assert row(out, "policies/20-batch-spot.test.yaml", "a PyTorchJob worker") == "PASS"
    failure = out.split("\nFAIL policies/20-batch-spot.test.yaml: ", 1)[1]
    assert failure.splitlines()[1:11] == [
        "  added (the policies that change the pod):",
        "  policy batch-gpu-spot:",
        "    --- expected",
        "    +++ actual",
        "    @@ -6,4 +6,4 @@",
        "     - key: ng-name",
        "       operator: In",
        "       values:",
        "    -  - g2",
        "    +  - g1",
    ]
    assert out.rstrip().endswith("1 failed")


def test_a_policy_that_should_have_applied_is_named(tmp_path: Path):
    root = policy_dir(
        tmp_path,
        policy("team-label", 10, "{namespaces: [ml]}", "{labels: {team: ml}}"),
        test=cases_file(f"""\
    - name: a pod outside ml
      namespace: shop
      pod: {POD}
      expect:
        added:
          team-label:
            labels: {{team: ml}}
"""),
    )
    done = run(root, "--color", "never")
    assert done.returncode == 1
    assert "policy team-label: expected to change the pod, changed nothing" in done.stdout
    assert "    -  team: ml" in done.stdout


def test_a_whole_pod_expectation_diffs_the_pod(tmp_path: Path):
    root = policy_dir(
        tmp_path,
        policy("team-label", 10, "{namespaces: [ml]}", "{labels: {team: ml}}"),
        test=cases_file(f"""\
    - name: the whole pod
      namespace: ml
      pod: {POD}
      expect:
        pod:
          apiVersion: v1
          kind: Pod
          metadata:
            name: p
            labels: {{team: vision}}
            annotations: {{pod-placement-webhook/policies: team-label}}
          spec: {{containers: [{{name: c, image: i}}]}}
"""),
    )
    done = run(root, "--color", "never")
    assert done.returncode == 1
    assert "  the mutated pod:" in done.stdout
    assert "    -    team: vision" in done.stdout
    assert "    +    team: ml" in done.stdout


def test_a_policy_matching_what_a_later_one_adds_applies_in_the_same_call(tmp_path: Path):
    """A policy that matches a label a later policy adds: the engine runs it again once the
    label is there, so the apiserver's reinvocation finds nothing more to add (the runner's
    second pass over the mutated pod passes)."""
    root = policy_dir(
        tmp_path,
        policy(
            "mark-tier",
            10,
            "{podSelector: {matchLabels: {tier: batch}}}",
            "{annotations: {example.com/tier: batch}}",
        ),
        policy("set-tier", 20, "{}", "{labels: {tier: batch}}"),
        test=cases_file(f"""\
    - name: one call
      namespace: ml
      pod: {POD}
      expect:
        added:
          set-tier: {{labels: {{tier: batch}}}}
          mark-tier: {{annotations: {{example.com/tier: batch}}}}
"""),
    )
    done = run(root, "--color", "never")
    assert done.returncode == 0, done.stdout
    assert "1 cases: 1 passed, 0 failed" in done.stdout
    assert "second pass" not in done.stdout


def test_audit_and_warning_expectations(tmp_path: Path):
    root = policy_dir(
        tmp_path,
        policy("tier-gold", 10, "{}", "{annotations: {example.com/tier: gold}}"),
        policy("tier-silver", 20, "{}", "{annotations: {example.com/tier: silver}}"),
        policy(
            "dns-audit",
            30,
            "{}",
            "{dnsConfig: {options: [{name: ndots, value: '2'}]}}",
            mode="audit",
        ),
        test=cases_file(f"""\
    - name: the first policy wins and the second is reported; audit changes nothing
      namespace: ml
      pod: {POD}
      expect:
        added:
          tier-gold: {{annotations: {{example.com/tier: gold}}}}
        audited:
          dns-audit: {{dnsConfig.options: [{{name: ndots, value: "2"}}]}}
        warnings:
          - "policy tier-silver: annotation example.com/tier kept from policy tier-gold"
          - "policy dns-audit (audit) would add: dnsConfig.options"
    - name: a warning that is not there fails
      namespace: ml
      pod: {POD}
      expect:
        added:
          tier-gold: {{annotations: {{example.com/tier: gold}}}}
        warnings: []
"""),
    )
    done = run(root, "--color", "never")
    assert done.returncode == 1, done.stdout
    assert row(done.stdout, "set.test.yaml", "the first policy wins") == "PASS"
    assert row(done.stdout, "set.test.yaml", "a warning that is not there fails") == "FAIL"
    assert "  warnings:" in done.stdout


def test_an_invalid_test_file_counts_every_case_it_holds_as_not_run(tmp_path: Path):
    case = f"""\
    - name: NAME
      namespace: ml
      pod: {POD}
      expect:
        EXPECT: {{}}
"""
    cases = [
        case.replace("NAME", "a typo").replace("EXPECT", "addded"),
        case.replace("NAME", "a good one").replace("EXPECT", "added"),
        case.replace("NAME", "another").replace("EXPECT", "added"),
    ]
    root = policy_dir(
        tmp_path,
        policy("team-label", 10, "{namespaces: [ml]}", "{labels: {team: ml}}"),
        test=cases_file("".join(cases)),
    )
    done = run(root, "--color", "never")
    assert done.returncode == 1
    for name in ("a typo", "a good one", "another"):
        assert row(done.stdout, "set.test.yaml", name) == "ERROR"
    assert "set.test.yaml, document 1, line 10: spec.cases[0].expect.addded: unknown field" in (
        done.stdout
    )
    assert done.stdout.count("unknown field") == 1, "why is said once for the file"
    assert done.stdout.rstrip().endswith("3 cases: 0 passed, 0 failed, 3 not run")


def test_cases_whose_policies_do_not_load_are_each_counted_as_not_run(tmp_path: Path):
    root = policy_dir(
        tmp_path,
        policy("team-label", 10, "{namespaces: [ml]}", "{labelz: {team: ml}}"),
        test=cases_file(f"""\
    - name: one
      namespace: ml
      pod: {POD}
      expect: {{added: {{}}}}
    - name: two
      namespace: ml
      pod: {POD}
      expect: {{added: {{}}}}
"""),
    )
    done = run(root, "--color", "never")
    assert done.returncode == 1
    assert [row(done.stdout, "set.test.yaml", n) for n in ("one", "two")] == ["ERROR", "ERROR"]
    assert "the policies do not load:" in done.stdout
    assert done.stdout.count("spec.add.labelz: unknown field") == 1
    assert done.stdout.rstrip().endswith("2 cases: 0 passed, 0 failed, 2 not run")


def test_a_test_file_may_name_its_policies(tmp_path: Path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "team.yaml").write_text(
        policy("team-label", 10, "{namespaces: [ml]}", "{labels: {team: ml}}")
    )
    tests = tmp_path / "tests"
    tests.mkdir()
    text = cases_file(f"""\
    - name: from the policies directory next door
      namespace: ml
      pod: {POD}
      expect:
        added:
          team-label: {{labels: {{team: ml}}}}
""").replace("spec:\n", "spec:\n  policies: [../policies]\n")
    (tests / "team.test.yaml").write_text(text)
    done = run(tests, "--color", "never")
    assert done.returncode == 0, done.stdout


def test_no_test_files_is_an_error(tmp_path: Path):
    done = run(tmp_path)
    assert done.returncode == 1
    assert "no *.test.yaml policy test files found" in done.stderr


def test_color_only_when_asked(tmp_path: Path):
    assert "\033[32mPASS" in run("policies/", "--color", "always").stdout
    assert "\033[" not in run("policies/", "--color", "auto").stdout  # not a terminal


def test_test_files_are_not_policies():
    """The loader skips *.test.yaml: a test file beside the policies never becomes a policy."""
    names = {str(p) for p in load_policy_set(POLICIES).sources}
    assert names and not any(n.endswith(".test.yaml") for n in names)
    assert yaml.safe_load((POLICIES / "20-batch-spot.test.yaml").read_text())["kind"] == (
        "PolicyTest"
    )
