"""Audit mode: a policy marked `mode: audit` computes its changes, reports them (warnings, audit
annotations, metrics, logs, --explain) and applies nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.kube import apply_both, validate_pod
from tests.scraping import (
    client,
    gpu_step,
    patch_of,
    plain_pod,
    pod_review,
    response_of,
    scrape,
    send,
    value,
)
from tests.servers import running_server
from webhook.engine import CompiledPolicySet, compile_policy_set, mutate
from webhook.policy.load import parse_policy_set
from webhook.tools.explain import render_explain

SPOT = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: web-on-spot}
spec:
  order: 10
  mode: MODE
  match:
    namespaces: [shop]
  add:
    tolerations:
      - {key: spot, operator: Exists, effect: NoSchedule}
    nodeAffinity:
      required:
        - {key: capacity, operator: In, values: [spot]}
"""

DEFAULT_POOL = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: default-pool}
spec:
  order: 900
  match:
    placement: none
    extendedResources: false
  add:
    nodeAffinity:
      required:
        - {key: ng-name, operator: In, values: [default]}
"""


def policies(mode: str, *extra: str) -> CompiledPolicySet:
    sources = [("spot.yaml", SPOT.replace("MODE", mode).encode())]
    sources += [(f"extra{i}.yaml", text.encode()) for i, text in enumerate(extra)]
    return compile_policy_set(parse_policy_set(sources))


WOULD_ADD = "policy web-on-spot (audit) would add: tolerations, nodeAffinity.required"


def test_an_audit_policy_changes_nothing_and_says_what_it_would_add():
    pod = plain_pod(namespace="shop")
    result = mutate(policies("audit"), pod, "shop")
    assert result.ops == []
    assert result.pod == pod
    assert (result.applied, result.audited) == ([], ["web-on-spot"])
    assert result.warnings == [WOULD_ADD]


def test_later_policies_see_the_pod_the_audit_policy_left_untouched():
    """The audit policy would place the pod; as it applies nothing, the default pool still
    places it, exactly as if the audit policy were not there."""
    audited = mutate(policies("audit", DEFAULT_POOL), plain_pod(namespace="shop"), "shop")
    without = compile_policy_set(parse_policy_set([("d.yaml", DEFAULT_POOL.encode())]))
    alone = mutate(without, plain_pod(namespace="shop"), "shop")
    assert audited.ops == alone.ops
    assert audited.applied == ["default-pool"]
    assert audited.pod["metadata"]["annotations"] == {
        "pod-placement-webhook/policies": "default-pool"
    }


def test_enforcing_applies_exactly_what_audit_reported():
    """The point of audit mode: what it reports is what the policy will do once enforced."""
    pod = plain_pod(namespace="shop")
    audit = mutate(policies("audit", DEFAULT_POOL), pod, "shop", explain=True)
    enforce = mutate(policies("enforce", DEFAULT_POOL), pod, "shop", explain=True)
    reported = {o.name: o.additions.as_dict() for o in audit.outcomes if o.name == "web-on-spot"}
    applied = {o.name: o.additions.as_dict() for o in enforce.outcomes if o.name == "web-on-spot"}
    assert reported == applied
    assert reported["web-on-spot"]["tolerations"] == [
        {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert enforce.applied == ["web-on-spot"], "enforced, it places the pod: no default pool"
    patched = apply_both(pod, enforce.ops)
    validate_pod(patched)


def test_an_audit_policy_with_nothing_to_add_is_not_reported():
    pod = plain_pod(namespace="shop")
    pod["spec"]["tolerations"] = [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]
    pod["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "capacity", "operator": "In", "values": ["spot"]}
                        ]
                    }
                ]
            }
        }
    }
    result = mutate(policies("audit"), pod, "shop")
    assert (result.ops, result.audited, result.warnings) == ([], [], [])


def test_explain_shows_what_audit_would_add():
    pod = plain_pod(namespace="shop")
    result = mutate(policies("audit"), pod, "shop", explain=True)
    text = render_explain(pod, result)
    assert "+ web-on-spot (audit): matched, would add tolerations, nodeAffinity.required" in text
    assert "(pod unchanged)" in text
    assert f"! warning: {WOULD_ADD}" in text


def test_the_server_reports_audit_in_warnings_audit_annotations_metrics_and_logs(
    tmp_path: Path,
):
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "spot.yaml").write_text(SPOT.replace("MODE", "audit"))
    (policy_dir / "gpu.yaml").write_text(
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        "metadata: {name: gpu}\nspec:\n  add:\n    extendedResourceTolerations: {}\n"
    )
    with running_server(tmp_path, [policy_dir]) as server, client(server) as http:
        answer = response_of(send(http, pod_review(plain_pod(namespace="shop"), "shop")))
        assert "patch" not in answer and "patchType" not in answer
        assert answer["warnings"] == [WOULD_ADD]
        assert answer["auditAnnotations"] == {"audited": "web-on-spot"}

        gpu = gpu_step(namespace="shop")
        answer = response_of(send(http, pod_review(gpu, "shop")))
        ops: list[dict[str, Any]] = patch_of(answer)
        assert all("spot" not in json.dumps(op) for op in ops), "only the enforced policy"
        assert answer["auditAnnotations"] == {"policies": "gpu", "audited": "web-on-spot"}

        _, samples = scrape(server)
        assert value(samples, "placement_webhook_policy_audits_total", policy="web-on-spot") == 2
        assert value(samples, "placement_webhook_policy_patches_total", policy="web-on-spot") == 0
        assert value(samples, "placement_webhook_policy_patches_total", policy="gpu") == 1
    reviews = [json.loads(line) for line in server.log().splitlines() if '"msg":"review"' in line]
    assert [(r["policies"], r["audited"], r["result"]) for r in reviews] == [
        ([], ["web-on-spot"], "unchanged"),
        (["gpu"], ["web-on-spot"], "patched"),
    ]
