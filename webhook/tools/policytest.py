"""`placement-webhook test DIR`: policy tests that live next to the policies they test.

A test file (`*.test.yaml`, skipped by the policy loader) holds cases: a pod (or a Job,
CronJob or Argo workflow, for RetryPolicies), its namespace (and the namespace's labels, for
namespaceSelector), and what the policy set must do to it: the additions of each policy that
changes it, and/or the whole mutated pod or object. The runner
prints a pass/fail table, a unified diff of expected against actual for each failure, and
exits 1 if any case fails, so platform teams can run it in CI before a policy ships.

Every case also checks what the apiserver relies on: a second pass over the mutated pod
(webhooks are reinvoked) changes nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import Field, model_validator

from webhook.engine import CompiledPolicySet, Result, mutate
from webhook.errors import PolicyError
from webhook.policy import load_policy_set
from webhook.policy.documents import parse_documents
from webhook.policy.load import TEST_SUFFIXES
from webhook.policy.model import Metadata, Strict
from webhook.policy.yamlsafe import compose_documents, read_capped, to_python
from webhook.proof import compile_proven
from webhook.serving import defaults
from webhook.workloads import review_workload

# --- the test file -------------------------------------------------------------------------

PartAdditions = dict[str, Any]  # keyed as `mutate --explain` prints them: "nodeAffinity.required"


class Expect(Strict):
    """What the policy set must do to the pod. Give at least one of `added`, `pod`."""

    added: dict[str, PartAdditions] | None = Field(
        default=None,
        description="Each policy that changes the pod, with what it adds (as `mutate --explain` "
        "shows it); `{}`: no policy changes the pod. Policies left out must not change it.",
    )
    audited: dict[str, PartAdditions] | None = Field(
        default=None,
        description="Each audit-mode policy that would change the pod, with what it would add.",
    )
    pod: dict[str, Any] | None = Field(default=None, description="The whole mutated pod.")
    object: dict[str, Any] | None = Field(
        default=None, description="The whole mutated Job, CronJob or workflow (with `object`)."
    )
    warnings: list[str] | None = Field(
        default=None,
        description="The review's warnings: as many as listed, each containing its text.",
    )

    @model_validator(mode="after")
    def _expects_something(self) -> Expect:
        if self.added is None and self.pod is None and self.object is None:
            raise ValueError("expect needs `added`, `pod` or `object`")
        return self


class Case(Strict):
    name: str = Field(min_length=1, description="What the case shows, as a sentence.")
    namespace: str | None = Field(
        default=None, description="Default: the pod's metadata.namespace, else `default`."
    )
    namespace_labels: dict[str, str] | None = Field(
        default=None,
        alias="namespaceLabels",
        description="Labels of the namespace; left out, namespaceSelector clauses do not match.",
    )
    pod: dict[str, Any] | None = Field(
        default=None, description="The pod as the apiserver sends it at CREATE."
    )
    object: dict[str, Any] | None = Field(
        default=None,
        description="Instead of `pod`: a Job, CronJob, Argo Workflow, CronWorkflow or "
        "WorkflowTemplate as the apiserver sends it at CREATE, for the RetryPolicies.",
    )
    expect: Expect

    @model_validator(mode="after")
    def _one_subject(self) -> Case:
        if (self.pod is None) == (self.object is None):
            raise ValueError("give `pod` or `object`, not both")
        return self


class PolicyTestSpec(Strict):
    policies: tuple[str, ...] = Field(
        default=(),
        description="Policy files or directories, relative to this file. Default: the "
        "directory this file is in (the policies beside it).",
    )
    cases: tuple[Case, ...] = Field(min_length=1)


class PolicyTest(Strict):
    api_version: Literal["pod-placement-webhook/v1"] = Field(alias="apiVersion")
    kind: Literal["PolicyTest"]
    metadata: Metadata
    spec: PolicyTestSpec


def policy_test_json_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://pod-placement-webhook/policy-test.schema.json",
        "title": "pod-placement-webhook policy test",
        **PolicyTest.model_json_schema(by_alias=True, mode="validation"),
    }


# --- running -------------------------------------------------------------------------------


@dataclass
class CaseResult:
    file: str
    case: str
    failures: list[str] = field(default_factory=list)  # each: a heading and its diff
    ran: bool = True  # False: its file or its policies could not be loaded (failures say why)

    @property
    def passed(self) -> bool:
        return self.ran and not self.failures


def find_test_files(root: Path) -> list[Path]:
    """`*.test.yaml` files under `root` (recursively: example sets sit in sub-directories)."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise PolicyError(str(root), None, None, (), "no such file or directory")
    return sorted(
        p
        for p in root.rglob("*")
        if p.name.endswith(TEST_SUFFIXES)
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def read_tests(path: Path) -> list[PolicyTest]:
    parsed, problems = parse_documents(str(path), path.read_bytes(), {"PolicyTest": PolicyTest})
    if problems:
        raise PolicyError.of(problems)
    return [doc.value for doc in parsed]


def run_file(path: Path, display: str) -> list[CaseResult]:
    """Every case of a test file; when the file or its policies cannot be loaded, every case
    it holds, not run, with why."""
    try:
        tests = read_tests(path)
    except (PolicyError, OSError) as exc:
        return [CaseResult(display, name, [str(exc)], ran=False) for name in case_names(path)]
    results = []
    for test in tests:
        roots = [path.parent / p for p in test.spec.policies] or [path.parent]
        try:
            compiled = compile_proven(load_policy_set(roots), defaults.PROOF_CLASSES)
        except (PolicyError, OSError) as exc:
            why = f"the policies do not load:\n{exc}"
            results += [CaseResult(display, c.name, [why], ran=False) for c in test.spec.cases]
            continue
        results += [run_case(compiled, case, display) for case in test.spec.cases]
    return results


def case_names(path: Path) -> list[str]:
    """The names of the cases a test file that does not validate holds, read as plain YAML
    (safely: `yamlsafe`), so a report counts them; one unnamed entry when even that fails."""
    try:
        documents = compose_documents(str(path), read_capped(path))
        data = [to_python(str(path), i, n) for i, n in enumerate(documents, 1) if n is not None]
    except (PolicyError, OSError):
        return ["(cannot read this file)"]
    names = []
    for document in data:
        spec = document.get("spec") if isinstance(document, dict) else None
        cases = spec.get("cases") if isinstance(spec, dict) else None
        for index, case in enumerate(cases if isinstance(cases, list) else [], start=1):
            name = case.get("name") if isinstance(case, dict) else None
            names.append(name if isinstance(name, str) and name else f"case {index}")
    return names or ["(cannot read this file)"]


def run_case(compiled: CompiledPolicySet, case: Case, display: str) -> CaseResult:
    if case.object is not None:
        return run_workload_case(compiled, case, display)
    out = CaseResult(display, case.name)
    pod = case.pod or {}
    namespace = case.namespace or str((pod.get("metadata") or {}).get("namespace") or "default")
    result = mutate(compiled, pod, namespace, case.namespace_labels, explain=True)
    expect = case.expect
    if expect.added is not None:
        _compare_by_policy(out, "added (the policies that change the pod)", expect.added,
                 additions_by_policy(result, result.applied))  # fmt: skip
    if expect.audited is not None:
        _compare_by_policy(out, "audited (what audit-mode policies would add)", expect.audited,
                 additions_by_policy(result, result.audited))  # fmt: skip
    if expect.pod is not None:
        _compare(out, "the mutated pod", expect.pod, _plain(result.pod))
    if expect.warnings is not None:
        _check_warnings(out, expect.warnings, result.warnings)
    again = mutate(compiled, result.pod, namespace, case.namespace_labels)
    if again.ops:
        out.failures.append(
            "a second pass changes the pod again (the apiserver reinvokes webhooks): "
            + ", ".join(again.applied)
        )
    return out


def run_workload_case(compiled: CompiledPolicySet, case: Case, display: str) -> CaseResult:
    """A Job's, CronJob's or workflow's case: what the RetryPolicy that applies adds."""
    out = CaseResult(display, case.name)
    obj = case.object or {}
    namespace = case.namespace or str((obj.get("metadata") or {}).get("namespace") or "default")
    result = review_workload(compiled, obj, namespace, case.namespace_labels)
    expect = case.expect
    if expect.added is not None:
        added = {result.policy: result.added} if result.policy and result.ops else {}
        _compare_by_policy(out, "added (the RetryPolicy that changes it)", expect.added, added)
    if expect.object is not None:
        _compare(out, "the mutated object", expect.object, _plain(result.object))
    if expect.warnings is not None:
        _check_warnings(out, expect.warnings, result.warnings)
    again = review_workload(compiled, result.object, namespace, case.namespace_labels)
    if again.ops:
        out.failures.append(
            "a second pass changes it again (the apiserver reinvokes webhooks): "
            + str(again.policy)
        )
    return out


def additions_by_policy(result: Result, names: Sequence[str]) -> dict[str, Any]:
    wanted = set(names)
    return {o.name: _plain(o.additions.as_dict()) for o in result.outcomes if o.name in wanted}


def _check_warnings(out: CaseResult, expected: list[str], actual: list[str]) -> None:
    missing = [e for e in expected if not any(e in w for w in actual)]
    if missing or len(expected) != len(actual):
        _compare(out, "warnings", expected, actual)


def _compare_by_policy(
    out: CaseResult, what: str, expected: dict[str, Any], actual: dict[str, Any]
) -> None:
    """One diff per policy that differs, so a failure names the policy it is about."""
    expected = _plain(expected)
    if expected == actual:
        return
    lines = [f"{what}:"]
    for name in list(expected) + [n for n in actual if n not in expected]:
        want, got = expected.get(name), actual.get(name)
        if want == got:
            continue
        if got is None:
            lines.append(f"policy {name}: expected to change the pod, changed nothing")
        elif want is None:
            lines.append(f"policy {name}: changed the pod, not expected to")
        else:
            lines.append(f"policy {name}:")
        lines += unified_diff(want, got)
    out.failures.append("\n".join(lines))


def _compare(out: CaseResult, what: str, expected: Any, actual: Any) -> None:
    if _plain(expected) == actual:
        return
    out.failures.append(f"{what}:\n" + "\n".join(unified_diff(expected, actual)))


def unified_diff(expected: Any, actual: Any) -> list[str]:
    before = [] if expected is None else _yaml(expected).splitlines()
    after = [] if actual is None else _yaml(actual).splitlines()
    return list(difflib.unified_diff(before, after, "expected", "actual", lineterm="", n=3))


def _plain(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _yaml(value: Any) -> str:
    # Sorted keys: an expectation written in another key order diffs only where it differs.
    return yaml.safe_dump(_plain(value), sort_keys=True, width=100)


def run_tests(roots: Sequence[Path], cwd: Path | None = None) -> list[CaseResult]:
    """Every case of every test file under `roots`. Raises PolicyError when there is none:
    a CI job that tests nothing must not pass."""
    files = [f for root in roots for f in find_test_files(root)]
    if not files:
        joined = ", ".join(map(str, roots))
        raise PolicyError(joined, None, None, (), "no *.test.yaml policy test files found")
    base = cwd or Path.cwd()
    results = []
    for path in files:
        display = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
        results += run_file(path, display)
    return results
