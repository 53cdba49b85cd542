"""kube-apiserver's rules for a Job's failure handling (webhook.kube.validation.jobs), as a table.

Each row is named after the TestValidateJob case of kubernetes
`pkg/apis/batch/validation/validation_test.go` it follows (the expected error, as upstream
prints it), and lists the errors as `path: type`. The template is upstream's
`validPodTemplateSpecForGeneratedRestartPolicyNever`: one container `abc`, restartPolicy Never.
"""

from __future__ import annotations

from typing import Any

import pytest

from webhook.kube.validation import dotted
from webhook.kube.validation.jobs import validate_job_failure_handling

Spec = dict[str, Any]


def job(restart: str = "Never", **spec: Any) -> Spec:
    template = {"spec": {"restartPolicy": restart, "containers": [{"name": "abc", "image": "i"}]}}
    return {"template": template, **spec}


def rules(*items: Any) -> Spec:
    return {"rules": list(items)}


def on_codes(operator: str = "In", values: Any = (1, 2, 3), **more: Any) -> Spec:
    return {
        "action": "FailJob",
        "onExitCodes": {"operator": operator, "values": list(values), **more},
    }


def on_conditions(*patterns: Any, action: str = "Ignore") -> Spec:
    return {"action": action, "onPodConditions": list(patterns)}


DISRUPTED = {"type": "DisruptionTarget", "status": "True"}

VALID: dict[str, Spec] = {
    "no pod failure policy, restartPolicy Never": job(),
    "no pod failure policy, restartPolicy OnFailure": job("OnFailure"),
    "the disruption rule": job(podFailurePolicy=rules(on_conditions(DISRUPTED))),
    "the disruption rule with podReplacementPolicy Failed": job(
        podFailurePolicy=rules(on_conditions(DISRUPTED)), podReplacementPolicy="Failed"
    ),
    "TerminatingOrFailed without a pod failure policy": job(
        podReplacementPolicy="TerminatingOrFailed"
    ),
    "exit codes of a named container, NotIn 0": job(
        podFailurePolicy=rules(on_codes("NotIn", [0], containerName="abc"))
    ),
    "FailIndex with backoffLimitPerIndex": job(
        backoffLimitPerIndex=1,
        podFailurePolicy=rules({**on_codes(), "action": "FailIndex"}),
    ),
    "twenty rules, the most allowed": job(
        podFailurePolicy=rules(*(on_codes(values=[i]) for i in range(1, 21)))
    ),
    "twenty condition patterns": job(
        podFailurePolicy=rules(
            on_conditions(*({"type": f"CustomType_{i}", "status": "True"} for i in range(20)))
        )
    ),
    "255 exit codes": job(podFailurePolicy=rules(on_codes(values=range(1, 256)))),
}

INVALID: dict[str, tuple[Spec, list[str]]] = {
    "spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and "
    "OnPodConditions is required": (
        job(podFailurePolicy=rules({"action": "FailJob"})),
        ["spec.podFailurePolicy.rules[0]: Invalid value"],
    ),
    "spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Duplicate value: 11": (
        job(podFailurePolicy=rules(on_codes(values=[11, 11]))),
        ["spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Duplicate value"],
    ),
    "spec.podFailurePolicy.rules[0].onExitCodes.values: Too many: 256: must have at most 255 "
    "items": (
        job(podFailurePolicy=rules(on_codes("NotIn", range(256)))),
        ["spec.podFailurePolicy.rules[0].onExitCodes.values: Too many"],
    ),
    "spec.podFailurePolicy.rules: Too many: 21: must have at most 20 items": (
        job(podFailurePolicy=rules(*(on_codes(values=[i]) for i in range(1, 22)))),
        ["spec.podFailurePolicy.rules: Too many"],
    ),
    "spec.podFailurePolicy.rules[0].onPodConditions: Too many: 21: must have at most 20 items": (
        job(
            podFailurePolicy=rules(
                on_conditions(*({"type": f"CustomType_{i}", "status": "True"} for i in range(21)))
            )
        ),
        ["spec.podFailurePolicy.rules[0].onPodConditions: Too many"],
    ),
    "spec.podFailurePolicy.rules[0].onExitCodes.values[2]: Duplicate value: 13": (
        job(podFailurePolicy=rules(on_codes(values=[12, 13, 13, 13]))),
        [
            "spec.podFailurePolicy.rules[0].onExitCodes.values[2]: Duplicate value",
            "spec.podFailurePolicy.rules[0].onExitCodes.values[3]: Duplicate value",
        ],
    ),
    "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []int32{19, 11}: must be "
    "ordered": (
        job(podFailurePolicy=rules(on_codes(values=[19, 11]))),
        ["spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value"],
    ),
    "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []int32{}: at least one "
    "value is required": (
        job(podFailurePolicy=rules(on_codes(values=[]))),
        ["spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value"],
    ),
    'spec.podFailurePolicy.rules[0].action: Required value: valid values: ["Count" "FailIndex" '
    '"FailJob" "Ignore"]': (
        job(podFailurePolicy=rules({**on_codes(), "action": ""})),
        ["spec.podFailurePolicy.rules[0].action: Required value"],
    ),
    'spec.podFailurePolicy.rules[0].onExitCodes.operator: Required value: valid values: ["In" '
    '"NotIn"]': (
        job(podFailurePolicy=rules(on_codes(""))),
        ["spec.podFailurePolicy.rules[0].onExitCodes.operator: Required value"],
    ),
    "spec.podFailurePolicy.rules[0]: Invalid value: specifying both OnExitCodes and "
    "OnPodConditions is not supported": (
        job(
            podFailurePolicy=rules(
                {**on_codes(containerName="abc"), "onPodConditions": [DISRUPTED]}
            )
        ),
        ["spec.podFailurePolicy.rules[0]: Invalid value"],
    ),
    "spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Invalid value: 0: must not be 0 for "
    "the In operator": (
        job(podFailurePolicy=rules(on_codes(values=[1, 0, 2]))),
        [
            "spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Invalid value",
            "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value",  # not ordered
        ],
    ),
    'spec.podFailurePolicy.rules[1].onExitCodes.containerName: Invalid value: "xyz": must be one '
    "of the container or initContainer names in the pod template": (
        job(
            podFailurePolicy=rules(
                on_codes(containerName="abc"), on_codes(values=[5, 6, 7], containerName="xyz")
            )
        ),
        ["spec.podFailurePolicy.rules[1].onExitCodes.containerName: Invalid value"],
    ),
    'spec.podFailurePolicy.rules[0].action: Unsupported value: "UnknownAction"': (
        job(podFailurePolicy=rules({**on_codes(containerName="abc"), "action": "UnknownAction"})),
        ["spec.podFailurePolicy.rules[0].action: Unsupported value"],
    ),
    'spec.podFailurePolicy.rules[0].onExitCodes.operator: Unsupported value: "UnknownOperator"': (
        job(podFailurePolicy=rules(on_codes("UnknownOperator"))),
        ["spec.podFailurePolicy.rules[0].onExitCodes.operator: Unsupported value"],
    ),
    "spec.podFailurePolicy.rules[0].onPodConditions[0].status: Required value: valid values: "
    '["False" "True" "Unknown"]': (
        job(podFailurePolicy=rules(on_conditions({"type": "DisruptionTarget"}))),
        ["spec.podFailurePolicy.rules[0].onPodConditions[0].status: Required value"],
    ),
    "spec.podFailurePolicy.rules[0].onPodConditions[0].status: Unsupported value: "
    '"UnknownStatus"': (
        job(
            podFailurePolicy=rules(
                on_conditions({"type": "DisruptionTarget", "status": "UnknownStatus"})
            )
        ),
        ["spec.podFailurePolicy.rules[0].onPodConditions[0].status: Unsupported value"],
    ),
    'spec.podFailurePolicy.rules[0].onPodConditions[0].type: Invalid value: "": name part must '
    "be non-empty": (
        job(podFailurePolicy=rules(on_conditions({"status": "True"}))),
        # IsQualifiedName: empty, and so not matching the name pattern either.
        ["spec.podFailurePolicy.rules[0].onPodConditions[0].type: Invalid value"] * 2,
    ),
    'spec.podFailurePolicy.rules[0].onPodConditions[0].type: Invalid value: "Invalid Condition '
    'Type"': (
        job(
            podFailurePolicy=rules(
                on_conditions({"type": "Invalid Condition Type", "status": "True"})
            )
        ),
        ["spec.podFailurePolicy.rules[0].onPodConditions[0].type: Invalid value"],
    ),
    'spec.podReplacementPolicy: Unsupported value: "TerminatingOrFailed": supported values: '
    '"Failed"': (
        job(
            podReplacementPolicy="TerminatingOrFailed",
            podFailurePolicy=rules(on_conditions(DISRUPTED)),
        ),
        ["spec.podReplacementPolicy: Unsupported value"],
    ),
    'spec.podReplacementPolicy: Unsupported value: "": supported values: "Failed", '
    '"TerminatingOrFailed"': (
        job(podReplacementPolicy=""),
        ["spec.podReplacementPolicy: Unsupported value"],
    ),
    'spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when '
    "podFailurePolicy is specified": (
        job("OnFailure", podFailurePolicy=rules()),
        ["spec.template.spec.restartPolicy: Invalid value"],
    ),
    "spec.template.spec.restartPolicy: Required value (Always, the pod defaulting's value)": (
        job("Always"),
        ["spec.template.spec.restartPolicy: Required value"],
    ),
    'FailIndex without backoffLimitPerIndex: "requires the backoffLimitPerIndex to be set"': (
        job(podFailurePolicy=rules({**on_codes(), "action": "FailIndex"})),
        ["spec.podFailurePolicy.rules[0].action: Invalid value"],
    ),
}


def summary(spec: Spec) -> list[str]:
    return [f"{dotted(e.path)}: {e.kind}" for e in validate_job_failure_handling(spec, ("spec",))]


@pytest.mark.parametrize("spec", list(VALID.values()), ids=list(VALID))
def test_valid_job_failure_handling(spec: Spec) -> None:
    assert summary(spec) == []


@pytest.mark.parametrize(("spec", "expected"), list(INVALID.values()), ids=list(INVALID))
def test_invalid_job_failure_handling(spec: Spec, expected: list[str]) -> None:
    assert summary(spec) == expected


def test_messages_read_as_upstream_prints_them() -> None:
    errors = validate_job_failure_handling(
        job("OnFailure", podFailurePolicy=rules(on_conditions({"type": "DisruptionTarget"}))),
        ("spec",),
    )
    assert [str(e) for e in errors] == [
        "spec.podFailurePolicy.rules[0].onPodConditions[0].status: Required value: valid values: "
        '["False" "True" "Unknown"]',
        "spec.template.spec.restartPolicy: Invalid value: 'OnFailure': only \"Never\" is "
        "supported when podFailurePolicy is specified",
    ]
    too_many = validate_job_failure_handling(
        job(podFailurePolicy=rules(*(on_codes(values=[i]) for i in range(1, 22)))), ("spec",)
    )
    assert [str(e) for e in too_many] == [
        "spec.podFailurePolicy.rules: Too many: 21: must have at most 20 items"
    ]
    both = validate_job_failure_handling(
        job(podFailurePolicy=rules({**on_codes(), "onPodConditions": [DISRUPTED]})), ("spec",)
    )
    assert [str(e) for e in both] == [
        "spec.podFailurePolicy.rules[0]: Invalid value: specifying both OnExitCodes and "
        "OnPodConditions is not supported"
    ]


def test_a_cronjobs_job_template_is_checked_at_its_own_path() -> None:
    spec = job("OnFailure", podFailurePolicy=rules(on_conditions(DISRUPTED)))
    errors = validate_job_failure_handling(spec, ("spec", "jobTemplate", "spec"))
    assert [dotted(e.path) for e in errors] == ["spec.jobTemplate.spec.template.spec.restartPolicy"]
