"""The policy file limits docs/reliability.md states, each at its value from both sides: 1 MiB a
file, 64 levels of nesting, 100,000 values once aliases are expanded, integers within 64 bits.
An off-by-one (`>=` for `>`) fails here. The values are written out, not imported from the code
they check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.errors import PolicyError
from webhook.policy import load_policy_set
from webhook.tools.policytest import read_tests

FILE_LIMIT = 1024 * 1024  # bytes
DEPTH_LIMIT = 64  # nested collections, the document's own included
VALUES_LIMIT = 100_000  # every mapping, list, key and scalar, aliases expanded
INT64 = (-(2**63), 2**63 - 1)

POLICY = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: limits}
spec:
  order: ORDER
  match: {ownerKinds: KINDS}
  add:
    labels: {team: ml}
"""


def policy(order: int = 0, kinds: str = "[Job]") -> str:
    return POLICY.replace("ORDER", str(order)).replace("KINDS", kinds)


def load(tmp_path: Path, data: bytes) -> str | None:
    """None when the file loads, else the first problem's message."""
    path = tmp_path / "policy.yaml"
    path.write_bytes(data)
    try:
        load_policy_set(path)
    except PolicyError as exc:
        return exc.first.message
    return None


def values_of(data: Any) -> int:
    """What the limit counts: each collection, each key and each scalar, once per appearance."""
    if isinstance(data, dict):
        return 1 + sum(1 + values_of(v) for v in data.values())
    if isinstance(data, list):
        return 1 + sum(values_of(v) for v in data)
    return 1


def depth_of(data: Any) -> int:
    if isinstance(data, dict):
        return 1 + max((depth_of(v) for v in data.values()), default=0)
    if isinstance(data, list):
        return 1 + max((depth_of(v) for v in data), default=0)
    return 0


# --- 1 MiB a file --------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A valid policy file of exactly `size` bytes (a YAML comment fills it)."""
    text = policy().encode()
    filler = size - len(text) - len(b"# \n")
    return text + b"# " + b"x" * filler + b"\n"


def test_a_policy_file_of_exactly_1_mib_loads(tmp_path: Path) -> None:
    data = padded(FILE_LIMIT)
    assert len(data) == 1_048_576
    assert load(tmp_path, data) is None


def test_a_policy_file_one_byte_over_1_mib_is_refused(tmp_path: Path) -> None:
    data = padded(FILE_LIMIT + 1)
    assert load(tmp_path, data) == "the file is larger than 1048576 bytes (1 MiB)"


def test_a_live_reload_reads_one_byte_past_the_limit_and_refuses_it(tmp_path: Path) -> None:
    """The server reads a file capped at the limit plus one byte: a huge file is refused
    without being read whole, and a file of exactly 1 MiB is read whole."""
    (tmp_path / "a.yaml").write_bytes(padded(FILE_LIMIT))
    assert load_policy_set(tmp_path).policies[0].name == "limits"
    (tmp_path / "a.yaml").write_bytes(padded(FILE_LIMIT + 1))
    with pytest.raises(PolicyError, match="larger than 1048576 bytes"):
        load_policy_set(tmp_path)


# --- 64 levels of nesting ------------------------------------------------------------------------

TEST_FILE = """\
apiVersion: pod-placement-webhook/v1
kind: PolicyTest
metadata: {name: deep}
spec:
  cases:
    - name: a pod with a deep field
      pod:
        apiVersion: v1
        kind: Pod
        metadata: {name: p, namespace: ml}
        DEEP
      expect: {added: {}}
"""


def nested_test_file(depth: int) -> str:
    """A policy test file (its pod takes any field) whose deepest value is `depth` collections
    down, the document's own mapping counted."""
    # The document, spec, cases, the case, its pod and the pod's spec are 6 levels; each `x:`
    # adds one.
    inner = "{x: " * (depth - 6) + "1" + "}" * (depth - 6)
    text = TEST_FILE.replace("DEEP", f"spec: {{containers: [], x: {inner}}}")
    assert depth_of(yaml.safe_load(text)) == depth
    return text


@pytest.mark.parametrize("depth", [DEPTH_LIMIT, DEPTH_LIMIT + 1], ids=["64 levels", "65 levels"])
def test_nesting_of_64_levels_loads_and_65_is_refused(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.test.yaml"
    path.write_text(nested_test_file(depth))
    if depth <= DEPTH_LIMIT:
        assert read_tests(path)[0].spec.cases[0].pod["spec"]["x"]
        return
    with pytest.raises(PolicyError) as caught:
        read_tests(path)
    assert caught.value.first.message == "nested more than 64 levels deep"


# --- 100,000 values, aliases expanded ------------------------------------------------------------


def with_values(total: int) -> str:
    """The policy holding exactly `total` values once expanded: most of them one anchored list
    of ownerKinds, repeated in excludes by alias; one last exclude written out makes the count."""
    anchor = "[" + ", ".join(["Job"] * 900) + "]"
    text = policy(kinds=f"&kinds {anchor}").replace("  add:", "  exclude: EXCLUDES\n  add:")
    excludes = ", ".join(["{ownerKinds: *kinds}"] * 99)
    base = values_of(yaml.safe_load(text.replace("EXCLUDES", f"[{excludes}]")))
    padding = total - base - 3  # one more exclude: a mapping, its key, its list, and the items
    last = "{ownerKinds: [" + ", ".join(["Job"] * padding) + "]}"
    return text.replace("EXCLUDES", f"[{excludes}, {last}]")


def test_100000_values_load_and_one_more_is_refused(tmp_path: Path) -> None:
    at_limit, over = with_values(VALUES_LIMIT), with_values(VALUES_LIMIT + 1)
    assert values_of(yaml.safe_load(at_limit)) == 100_000
    assert values_of(yaml.safe_load(over)) == 100_001
    assert len(over) < 100_000, "most of the values come through aliases"
    assert load(tmp_path, at_limit.encode()) is None
    assert load(tmp_path, over.encode()) == (
        "the document expands to more than 100000 values (through aliases)"
    )


# --- integers within 64 bits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "refused"),
    [
        (INT64[1], False),
        (INT64[1] + 1, True),
        (INT64[0], False),
        (INT64[0] - 1, True),
    ],
    ids=["2^63-1", "2^63", "-2^63", "-2^63-1"],
)
def test_integers_within_64_bits_load_and_one_past_is_refused(
    tmp_path: Path, order: int, refused: bool
) -> None:
    problem = load(tmp_path, policy(order=order).encode())
    assert problem == ("an integer beyond 64 bits" if refused else None)
