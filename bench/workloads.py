"""What the review of a Job, CronJob or Argo workflow costs (the RetryPolicy retries), in
process: `admission.handle`, AdmissionReview bytes in, response bytes out, with the shipped set.

    .venv/bin/python -m bench.workloads

Prints, per input, the body size and this thread's CPU time per review (best of 5 runs, so
other processes on a shared machine do not inflate it). The inputs are the golden cases of
`tests/cases/retries/` (real Jobs, CronJobs and workflows, as the apiserver sends them) and the
worst shapes an author can send: a workflow whose pod templates all stay off spot (every one is
judged, up to 1,000), and a Job with as many podFailurePolicy rules as 3 MiB holds. Each review
should cost time linear in the object's size, and the worst a few hundred milliseconds: far
under the webhook's 5 s timeout.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.engine_cost import cpu_us_per_call
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.policy import load_policy_set
from webhook.serving.admission import handle
from webhook.tools.cli import default_policies

CASES = Path(__file__).resolve().parent.parent / "tests" / "cases" / "retries"
RESOURCES = {
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "Workflow": ("argoproj.io", "workflows"),
    "CronWorkflow": ("argoproj.io", "cronworkflows"),
    "WorkflowTemplate": ("argoproj.io", "workflowtemplates"),
}


def review_body(obj: dict[str, Any]) -> bytes:
    group, resource = RESOURCES[obj["kind"]]
    request = {
        "uid": "0f3c",
        "kind": {"group": group, "version": "v1", "kind": obj["kind"]},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "namespace": obj["metadata"].get("namespace", "default"),
        "operation": "CREATE",
        "object": obj,
    }
    return orjson.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    )


def off_spot_workflow(templates: int) -> dict[str, Any]:
    step = {"container": {"image": "i"}, "nodeSelector": {"ng-name": "ondemand"}}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wide", "namespace": "ml"},
        "spec": {"templates": [{"name": f"t{i}", **step} for i in range(templates)]},
    }


def many_rules_job(rules: int) -> dict[str, Any]:
    rule = {"action": "Count", "onExitCodes": {"operator": "In", "values": [1]}}
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "i"}]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "many", "namespace": "batch"},
        "spec": {"podFailurePolicy": {"rules": [rule] * rules}, "template": template},
    }


def inputs() -> list[tuple[str, dict[str, Any]]]:
    golden = [(p.name.removesuffix(".in.yaml"), yaml.safe_load(p.read_text()))
              for p in sorted(CASES.glob("*.in.yaml"))]  # fmt: skip
    shapes = [
        ("workflow, 250 pod templates off spot", off_spot_workflow(250)),
        ("workflow, 1,000 pod templates off spot", off_spot_workflow(1000)),
        ("workflow, 30,000 pod templates off spot (judged: 1,000)", off_spot_workflow(30_000)),
        ("Job, 10,000 podFailurePolicy rules", many_rules_job(10_000)),
        ("Job, 40,000 podFailurePolicy rules (3 MiB)", many_rules_job(40_000)),
    ]
    return golden + shapes


def main() -> None:
    # Each refused retry is logged, as on the server: thousands of lines for a timing loop.
    logging.getLogger("webhook.admission").setLevel(logging.ERROR)
    compiled: CompiledPolicySet = compile_policy_set(load_policy_set(default_policies()))
    print(f"{'input':<58} {'body':>10} {'CPU per review':>16}")
    for name, obj in inputs():
        body = review_body(obj)
        cost = cpu_us_per_call(lambda b=body: handle(compiled, b), seconds=1.0, repeats=5)
        size = f"{len(body) / 1024:.1f} KiB"
        shown = f"{cost / 1000:.2f} ms" if cost >= 1000 else f"{cost:.0f} us"
        print(f"{name:<58} {size:>10} {shown:>16}")


if __name__ == "__main__":
    main()
