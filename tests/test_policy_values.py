"""No policy that `check` accepts can make kube-apiserver refuse a pod.

Each value a policy adds is judged at load by the ported apiserver rules (webhook.kube.validation):
the values below once passed `check` and then made the creation of every pod they matched fail
(HTTP 422), or the webhook answer 500. Now `check` names the file, document, line and field.
Policies that are valid, even at the edge of each rule, give pods that kubectl patches and the
same rules accept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.apirules import api_errors
from tests.pods import compiled, gpu, mutated, pod, policy
from webhook.errors import PolicyError
from webhook.policy.load import load_policy_set
from webhook.tools.cli import main

HEAD = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: bad}
spec:
  add:
"""  # the first added line is line 6


def adding(body: str) -> str:
    return HEAD + "".join(f"    {line}\n" for line in body.splitlines())


LABEL_VALUE = "Invalid value: {!r}: a valid label must be an empty string"

REFUSED = {
    "a toleration value with a space": (
        adding("tolerations: [{key: capacity, operator: Equal, value: on demand}]"),
        "line 6: spec.add.tolerations[0].operator: " + LABEL_VALUE.format("on demand"),
    ),
    "a required node affinity value holding two values": (
        adding(
            "nodeAffinity:\n  required:\n"
            "    - {key: node.kubernetes.io/instance-type, operator: In, "
            "values: [m5.large m5.xlarge]}"
        ),
        "line 8: spec.add.nodeAffinity.required[0].values[0]: "
        + LABEL_VALUE.format("m5.large m5.xlarge"),
    ),
    "a preferred node affinity value holding two values (the scheduler refuses it)": (
        adding(
            "nodeAffinity:\n  preferred:\n    - weight: 10\n      matchExpressions:\n"
            "        - {key: node.kubernetes.io/instance-type, operator: In, "
            "values: [m5.large m5.xlarge]}"
        ),
        "line 10: spec.add.nodeAffinity.preferred[0].matchExpressions[0].values[0]: "
        + LABEL_VALUE.format("m5.large m5.xlarge"),
    ),
    "Gt -1": (
        adding('nodeAffinity:\n  required:\n    - {key: gen, operator: Gt, values: ["-1"]}'),
        "line 8: spec.add.nodeAffinity.required[0].values[0]: " + LABEL_VALUE.format("-1"),
    ),
    "Gt with a superscript two": (
        adding('nodeAffinity:\n  required:\n    - {key: gen, operator: Gt, values: ["²"]}'),
        "line 8: spec.add.nodeAffinity.required[0].values[0]: " + LABEL_VALUE.format("²"),
    ),
    "Gt --5": (
        adding('nodeAffinity:\n  required:\n    - {key: gen, operator: Lt, values: ["--5"]}'),
        "line 8: spec.add.nodeAffinity.required[0].values[0]: " + LABEL_VALUE.format("--5"),
    ),
    "Gt beyond int64": (
        adding(
            "nodeAffinity:\n  required:\n"
            '    - {key: gen, operator: Gt, values: ["99999999999999999999"]}'
        ),
        "line 8: spec.add.nodeAffinity.required[0].values[0]: Invalid value: "
        "'99999999999999999999': for 'Gt', 'Lt' operators, the value must be an integer",
    ),
    "tolerationSeconds beyond int64": (
        adding(
            "tolerations:\n  - {key: a, operator: Exists, effect: NoExecute,\n"
            "     tolerationSeconds: 9223372036854775808}"
        ),
        "line 8: spec.add.tolerations[0].tolerationSeconds: an integer beyond 64 bits",
    ),
    "a label value ending in a newline (a YAML block scalar)": (
        adding("labels:\n  team: |\n    ml"),
        "line 7: spec.add.labels.team: " + LABEL_VALUE.format("ml\n"),
    ),
    "a toleration key ending in a newline": (
        adding('tolerations:\n  - key: "spot\\n"\n    operator: Exists'),
        "line 7: spec.add.tolerations[0].key: Invalid value: 'spot\\n': name part must",
    ),
    "an annotation key ending in a newline": (
        adding('annotations: {"example.com/team\\n": ml}'),
        "line 6: spec.add.annotations.example.com/team\\n: Invalid value: 'example.com/team\\n'",
    ),
    "a pod-deletion-cost that is not an int32": (
        adding('annotations: {controller.kubernetes.io/pod-deletion-cost: "4294967296"}'),
        "line 6: spec.add.annotations.controller.kubernetes.io/pod-deletion-cost: Invalid value: "
        "'4294967296': must be a 32bit integer",
    ),
    "the mirror pod annotation": (
        adding('annotations: {kubernetes.io/config.mirror: "x"}'),
        "line 6: spec.add.annotations.kubernetes.io/config.mirror: Forbidden: the apiserver "
        "checks this annotation against each pod's own fields",
    ),
    "an AppArmor annotation": (
        adding('annotations: {container.apparmor.security.beta.kubernetes.io/main: "unconfined"}'),
        "line 6: spec.add.annotations.container.apparmor.security.beta.kubernetes.io/main: "
        "Forbidden",
    ),
    "annotations over 256 KiB in one policy": (
        adding(f"annotations: {{example.com/blob: {'x' * (256 * 1024)}}}"),
        "line 6: spec.add.annotations.example.com/blob: Too long: may not be more than 262144 "
        "bytes",
    ),
    "a lone surrogate in an annotation": (
        adding('annotations: {example.com/note: "\\ud83d"}'),
        "line 6: spec.add.annotations.example.com/note: a lone surrogate escape",
    ),
    "an integer beyond 64 bits in the order": (
        HEAD.replace("  add:\n", "  order: 18446744073709551616\n  add:\n")
        + "    labels: {a: b}\n",
        "line 5: spec.order: an integer beyond 64 bits",
    ),
    "a workflow affinity topology key ending in a newline": (
        adding('workflowPodAffinity: {labelKeys: [wf], topologyKey: "zone\\n"}'),
        "line 6: spec.add.workflowPodAffinity.topologyKey: Invalid value: 'zone\\n'",
    ),
    "a DNS option without a name": (
        adding("dnsConfig: {options: [{value: '1'}]}"),
        "line 6: spec.add.dnsConfig.options[0].name: Field required",
    ),
    "an annotationKey ending in a newline": (
        "apiVersion: pod-placement-webhook/v1\nkind: PolicySettings\nspec:\n"
        '  annotationKey: "example.com/policies\\n"\n',
        "line 4: spec.annotationKey: Invalid value: 'example.com/policies\\n'",
    ),
    "an annotationKey the apiserver types": (
        "apiVersion: pod-placement-webhook/v1\nkind: PolicySettings\nspec:\n"
        "  annotationKey: controller.kubernetes.io/pod-deletion-cost\n",
        "line 4: spec.annotationKey: Invalid value: 'controller.kubernetes.io/pod-deletion-cost'"
        ": the apiserver gives this annotation a meaning of its own",
    ),
}


@pytest.mark.parametrize(("text", "expected"), REFUSED.values(), ids=list(REFUSED))
def test_check_refuses_a_value_the_apiserver_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy_set(path)
    assert str(caught.value).startswith(f"{path}, document 1, {expected}")
    assert main(["check", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {path}, document 1, {expected}")
    # One line per fault, each at its field (a value can break two rules).
    assert all(line.startswith(f"error: {path}, document 1, line ") for line in err.splitlines())


PROVENANCE_AND_NAMES = len("pod-placement-webhook/policies") + 3 * len("a,")
ANNOTATION = len("example.com/a") + 100 * 1024


def test_annotations_of_a_whole_set_past_256_kib_are_refused_at_the_policy_that_passes(
    tmp_path: Path,
) -> None:
    """Each policy fits alone; a pod both match would not. 100 KiB each: the third passes."""
    for name in ("a", "b", "c"):
        text = HEAD.replace("name: bad", f"name: {name}") + (
            f"    annotations: {{example.com/{name}: {'x' * 100 * 1024}}}\n"
        )
        (tmp_path / f"{name}.yaml").write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy_set(tmp_path)
    assert str(caught.value).startswith(
        f"{tmp_path / 'c.yaml'}, document 1, line 6: spec.add.annotations: with this policy the "
        f"set can add {PROVENANCE_AND_NAMES + 3 * ANNOTATION} bytes of annotations to one pod "
        "(keys and values, "
        "pod-placement-webhook/policies included), over the apiserver's limit of 262144 bytes"
    )


# --- valid at the edge: the patched pod passes the same rules -----------------------------

EDGE = policy(
    "edge",
    {
        "tolerations": [
            {"key": "example.com/" + "k" * 63, "operator": "Equal", "value": "v" * 63},
            {"operator": "Exists"},
            {
                "key": "a",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 2**63 - 1,
            },
        ],
        "nodeAffinity": {
            "required": [
                {"key": "gen", "operator": "Gt", "values": ["0"]},
                {"key": "mem", "operator": "Lt", "values": ["9223372036854775807"]},
                {"key": "pool", "operator": "NotIn", "values": ["", "A-z_0.9"]},
            ],
            "preferred": [
                {"weight": 100, "matchExpressions": [{"key": "d", "operator": "Exists"}]}
            ],
        },
        "workflowPodAffinity": {
            "labelKeys": ["example.com/wf"],
            "weight": 1,
            "topologyKey": "Zone",
        },
        "dnsConfig": {"options": [{"name": "ndots", "value": "1"}, {"name": "any text: ok"}]},
        "labels": {"example.com/empty": "", "a": "Z" * 63},
        "annotations": {
            "Example.COM/Upper": "any text\nat all",
            "controller.kubernetes.io/pod-deletion-cost": "-2147483648",
            "scheduler.alpha.kubernetes.io/tolerations": '[{"key": "t", "operator": "Exists"}]',
            "example.com/big": "x" * (100 * 1024),  # kubectl takes a patch of 128 KiB at most
        },
    },
)


def test_a_policy_at_the_edge_of_every_rule_gives_a_pod_the_apiserver_accepts() -> None:
    workflow_step = pod(gpu(), labels={"example.com/wf": "nightly"})
    result, after = mutated(compiled(EDGE), workflow_step)
    assert result.applied == ["edge"]
    assert api_errors(after) == []


# Text that a hostile or careless policy author writes: spaces, newlines, unicode, signs.
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["", "a", "-1", "+1", "²", "0x1", "a b", "a\n", "\n", "é", "A_b.c-9", "a/b"]),
    st.text(alphabet=st.sampled_from("aZ09-_./ \n+é"), max_size=70),
)


def with_value(field: str, value: str) -> dict[str, Any]:
    """A policy that is plain everywhere but in `field`, which holds `value`."""
    operator = {"gt": "Gt", "lt": "Lt"}.get(field, "In")
    add: dict[str, Any] = {
        "tolerations": [
            {
                "key": value if field == "toleration key" else "k",
                "operator": "Equal",
                "value": value if field == "toleration value" else "v",
            }
        ],
        "nodeAffinity": {
            "required": [
                {
                    "key": "n",
                    "operator": operator,
                    "values": [value if field in ("gt", "lt", "node value") else "1"],
                }
            ],
        },
        "labels": {"l": value} if field == "label value" else {value or "l": "v"},
        "annotations": {value or "a": "v"} if field == "annotation key" else {"a": value},
        "workflowPodAffinity": {
            "labelKeys": ["wf"],
            "topologyKey": value if field == "topology key" else "zone",
        },
        "dnsConfig": {"options": [{"name": value if field == "dns option" else "ndots"}]},
    }
    return policy("generated", add)


FIELDS = (
    "toleration key",
    "toleration value",
    "gt",
    "lt",
    "node value",
    "label key",
    "label value",
    "annotation key",
    "annotation value",
    "topology key",
    "dns option",
)


@given(field=st.sampled_from(FIELDS), value=HOSTILE_TEXT)
def test_any_policy_check_accepts_gives_pods_the_apiserver_accepts(field: str, value: str) -> None:
    try:
        policies = compiled(with_value(field, value))
    except PolicyError:
        return  # refused at load: nothing reaches a pod
    _, after = mutated(policies, pod(labels={"wf": "x"}))
    assert api_errors(after) == []


def test_the_generated_policies_include_accepted_ones() -> None:
    """The property above is not vacuous: plain values load."""
    doc: dict[str, Any] = policy(
        "plain", {"labels": {"a": "b"}, "tolerations": [{"key": "k", "operator": "Exists"}]}
    )
    assert compiled(doc).policies
