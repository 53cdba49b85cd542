"""The rendered MutatingWebhookConfiguration's `matchConditions`, evaluated by a CEL
implementation (cel-python), and decided as kube-apiserver decides whether to call the webhook.

The apiserver's rule (`staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions/
matcher.go`): every condition is evaluated; if any is false the webhook is not called; else, if
any failed to evaluate, the failurePolicy decides (Ignore: not called, the pod is created as
is; Fail: the request is refused); else the webhook is called. The CEL variables are the
object, `oldObject` (null on CREATE) and the admission request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import celpy
import pytest
from celpy import celtypes

from tests.kube import kustomize
from tests.reviews import gpu_pod, review
from tests.test_deploy import POD_WEBHOOK, entry

REPO = Path(__file__).resolve().parent.parent
CALLED, SKIPPED, REFUSED = "webhook called", "webhook skipped", "request refused"


@pytest.fixture(scope="module")
def webhook() -> Mapping[str, Any]:
    (config,) = [
        o for o in kustomize(REPO / "deploy") if o["kind"] == "MutatingWebhookConfiguration"
    ]
    return entry(config, POD_WEBHOOK)


def evaluate(expression: str, pod: Mapping[str, Any], namespace: str = "ml") -> bool | str:
    """The condition's value on a pod CREATE in `namespace`, or the error that stopped its
    evaluation."""
    request = review(pod, namespace=namespace)["request"]
    env = celpy.Environment()
    try:
        program = env.program(env.compile(expression))
        value = program.evaluate(
            {
                "object": celpy.json_to_cel(request["object"]),
                "oldObject": celpy.json_to_cel(request["oldObject"]),
                "request": celpy.json_to_cel(
                    {k: v for k, v in request.items() if "bject" not in k}
                ),
            }
        )
    except celpy.CELEvalError as exc:
        return f"error: {exc}"
    if not isinstance(value, celtypes.BoolType):
        return f"error: not a bool: {value!r}"  # the apiserver only admits bool expressions
    return bool(value)


def decision(hook: Mapping[str, Any], pod: Mapping[str, Any], namespace: str = "ml") -> str:
    conditions = hook.get("matchConditions") or []
    results = [evaluate(c["expression"], pod, namespace) for c in conditions]
    if any(r is False for r in results):
        return SKIPPED
    if any(isinstance(r, str) for r in results):
        return SKIPPED if hook["failurePolicy"] == "Ignore" else REFUSED
    return CALLED


def with_annotations(annotations: Mapping[str, str] | None, **metadata: Any) -> dict[str, Any]:
    pod = gpu_pod()
    if annotations is not None:
        pod["metadata"]["annotations"] = dict(annotations)
    pod["metadata"].update(metadata)
    return pod


# What kubelet sets on the mirror pod it creates for a static pod (pkg/kubelet/types,
# pkg/kubelet/config): the mirror key, the config hash, seen and source, and the Node as owner.
STATIC_POD_MIRROR = with_annotations(
    {
        "kubernetes.io/config.mirror": "5b1c3f0e9d2a4b6c8e7f1a2b3c4d5e6f",
        "kubernetes.io/config.hash": "5b1c3f0e9d2a4b6c8e7f1a2b3c4d5e6f",
        "kubernetes.io/config.seen": "2026-01-02T03:04:05.000000000Z",
        "kubernetes.io/config.source": "file",
    },
    ownerReferences=[
        {"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": "1", "controller": True}
    ],
)

CASES = [
    ("an ordinary pod with no annotations", with_annotations(None), CALLED),
    ("an ordinary pod with an empty annotation map", with_annotations({}), CALLED),
    (
        "an ordinary pod with annotations",
        with_annotations({"example.com/team": "ml", "kubernetes.io/description": "x"}),
        CALLED,
    ),
    (
        "a pod with kubelet's other config annotations but no mirror key",
        with_annotations({"kubernetes.io/config.source": "api"}),
        CALLED,
    ),
    (
        "a static pod's mirror, as kubelet creates it: matches no condition",
        STATIC_POD_MIRROR,
        SKIPPED,
    ),
    (
        "a pod with only the mirror annotation, empty: matches no condition",
        with_annotations({"kubernetes.io/config.mirror": ""}),
        SKIPPED,
    ),
]


@pytest.mark.parametrize(("pod", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_apiserver_calls_the_webhook_for_every_pod_but_mirror_pods(
    webhook: Mapping[str, Any], pod: Mapping[str, Any], expected: str
) -> None:
    assert decision(webhook, pod) == expected


def test_every_condition_evaluates_to_a_bool_on_every_pod(webhook: Mapping[str, Any]) -> None:
    """An error is not a safe "no": with failurePolicy Ignore it skips the webhook for that pod,
    silently. So no condition may fail to evaluate on any of the pods."""
    assert webhook["matchConditions"], "the configuration has conditions to check"
    for condition in webhook["matchConditions"]:
        for name, pod, _ in CASES:
            assert isinstance(evaluate(condition["expression"], pod), bool), (name, condition)


def test_a_condition_that_fails_to_evaluate_skips_the_webhook_under_ignore() -> None:
    """The decision rule itself, on a condition that cannot evaluate (no such field)."""
    hook = {"failurePolicy": "Ignore", "matchConditions": [{"expression": "object.nope == 1"}]}
    assert decision(hook, gpu_pod()) == SKIPPED
    assert decision({**hook, "failurePolicy": "Fail"}, gpu_pod()) == REFUSED
    hook["matchConditions"].append({"expression": "false"})
    assert decision({**hook, "failurePolicy": "Fail"}, gpu_pod()) == SKIPPED  # false wins
