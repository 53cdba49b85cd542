"""The last check: a policy whose additions would make kube-apiserver refuse the pod (HTTP 422,
whatever the failurePolicy) is not applied to it; the rest are, the pod is admitted, the
refusal is warned about and counted. Every value a policy adds was checked at load
(tests/test_policy_values.py): what is left is the pod around those values."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.apirules import api_errors
from tests.pods import compiled, mutated, pod, policy, toleration
from tests.scraping import client, pod_review, response_of, scrape, send, value
from tests.servers import running_server
from webhook.kube.validation import TOTAL_ANNOTATION_SIZE_LIMIT_BYTES, annotations_size

BLOB = "example.com/blob"
PROVENANCE = "pod-placement-webhook/policies"
NOTE = policy("big-note", {"annotations": {"example.com/note": "n" * 200}}, order=10)
TOLERATE = policy("tolerate", {"tolerations": [toleration("example.com/dedicated")]}, order=20)


def near_the_limit(room: int) -> dict[str, str]:
    """Annotations that leave `room` bytes under the apiserver's 256 KiB total."""
    return {BLOB: "x" * (TOTAL_ANNOTATION_SIZE_LIMIT_BYTES - len(BLOB) - room)}


def test_annotations_that_would_pass_the_total_limit_are_not_added_the_rest_is() -> None:
    full = pod(annotations=near_the_limit(100))
    result, after = mutated(compiled(NOTE, TOLERATE), full)
    assert result.invalid == ["big-note"]
    assert result.applied == ["tolerate"]
    assert "policy big-note not applied: the apiserver would refuse it" in result.warnings
    (outcome,) = [o for o in result.outcomes if o.name == "big-note"]
    assert any("metadata.annotations: Too long" in note for note in outcome.notes), outcome.notes
    assert "example.com/note" not in after["metadata"]["annotations"]
    assert after["spec"]["tolerations"] == [toleration("example.com/dedicated")]
    assert api_errors(after) == []  # the pod as kubectl patched it, by the apiserver's rules


def test_the_same_annotations_on_a_pod_with_room_are_added() -> None:
    result, after = mutated(compiled(NOTE, TOLERATE), pod(annotations=near_the_limit(1_000)))
    assert result.invalid == []
    assert result.applied == ["big-note", "tolerate"]
    assert api_errors(after) == []


def test_the_provenance_annotation_is_left_out_when_it_alone_would_pass_the_limit() -> None:
    result, after = mutated(compiled(TOLERATE), pod(annotations=near_the_limit(20)))
    assert result.applied == ["tolerate"]
    assert PROVENANCE not in after["metadata"]["annotations"]
    assert f"annotation {PROVENANCE} not added: the pod's annotations are full" in result.warnings
    assert annotations_size(after["metadata"]["annotations"]) <= TOTAL_ANNOTATION_SIZE_LIMIT_BYTES
    assert api_errors(after) == []


def test_a_pod_already_past_the_limit_is_the_pods_own_error() -> None:
    """The apiserver refuses such a pod whatever is added: no policy is blamed for it."""
    result, _ = mutated(compiled(NOTE, TOLERATE), pod(annotations=near_the_limit(-10)))
    assert result.invalid == []
    assert result.applied == ["big-note", "tolerate"]


WORKFLOW = policy(
    "workflow",
    {"workflowPodAffinity": {"labelKeys": ["example.com/wf"]}},
)


def test_a_term_carrying_a_bad_label_value_of_the_pod_is_the_pods_own_error() -> None:
    """The term copies the pod's label value; a value the label rules refuse fails the pod's
    own labels first, so the policy is not blamed (and applied as to any pod)."""
    bad = pod(labels={"example.com/wf": "night ly"})
    result, after = mutated(compiled(WORKFLOW), bad)
    assert result.invalid == []
    assert result.applied == ["workflow"]
    assert api_errors(bad), "the pod's own label is refused already"
    assert all("'night ly'" in error for error in api_errors(after)), api_errors(after)


def test_the_server_warns_and_counts_a_policy_not_applied(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "set.yaml").write_text(yaml.safe_dump_all([NOTE, TOLERATE], sort_keys=False))
    full = pod(annotations=near_the_limit(100), namespace="ml")
    with running_server(tmp_path, [policies]) as server, client(server) as http:
        answer = response_of(send(http, pod_review(full, "ml")))
        assert answer["warnings"] == ["policy big-note not applied: the apiserver would refuse it"]
        assert answer["auditAnnotations"] == {"policies": "tolerate"}
        _, samples = scrape(server)
        assert value(samples, "placement_webhook_policy_invalid_total", policy="big-note") == 1
        assert value(samples, "placement_webhook_policy_invalid_total", policy="tolerate") == 0


def test_annotations_reaching_exactly_the_limit_are_added_one_byte_more_are_not() -> None:
    """The apiserver refuses a total over 262,144 bytes, not one equal to it."""
    added = len("example.com/note") + 200
    at_limit = pod(annotations=near_the_limit(added))
    result, after = mutated(compiled(NOTE), at_limit)
    assert result.applied == ["big-note"] and result.invalid == []
    assert (
        annotations_size(
            {k: v for k, v in after["metadata"]["annotations"].items() if k != PROVENANCE}
        )
        == TOTAL_ANNOTATION_SIZE_LIMIT_BYTES
    )
    result, _ = mutated(compiled(NOTE), pod(annotations=near_the_limit(added - 1)))
    assert result.invalid == ["big-note"]
