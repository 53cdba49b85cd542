"""Malformed policy files: each is refused with one line naming the file, the document and the
line, by `check` (exit 1, no traceback) and by a live reload (counted, in /readyz and the
metrics, the last good set serving). Before webhook/policy/yamlsafe.py, these files raised
RecursionError, ValueError, TypeError or ConstructorError from the loader, or took a minute
and hundreds of MiB (the exponential aliases)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.kubelet import Volume
from tests.servers import running_server
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.errors import PolicyError
from webhook.policy import PolicySet, PolicyStore
from webhook.policy.load import load_policy_set
from webhook.serving.metrics import Metrics
from webhook.serving.reload import PolicyWatcher
from webhook.serving.serve import load_store
from webhook.tools.cli import main

GOOD = b"""\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: good}
spec:
  add:
    tolerations: [{key: example.com/good, operator: Exists}]
"""

LAUGHS = "\n".join(
    [
        "apiVersion: pod-placement-webhook/v1",
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)

MALFORMED: dict[str, tuple[bytes, str]] = {
    "exponential aliases (a billion laughs in 378 bytes)": (
        LAUGHS.encode(),
        ", document 1, line 7: the document expands to more than 100000 values (through aliases)",
    ),
    "an alias inside its own anchor": (
        b"kind: PlacementPolicy\nspec: &s {add: *s}\n",
        ", document 1, line 2: the alias *s refers to itself",
    ),
    "a merge key": (
        b"kind: PlacementPolicy\nbase: &b {order: 1}\nspec:\n  <<: *b\n",
        ", document 1, line 4: spec: YAML merge keys (<<) are not supported: write the keys out",
    ),
    "a python tag": (
        b'kind: PlacementPolicy\nspec: !!python/object/apply:os.system ["true"]\n',
        ", document 1, line 2: spec: unsupported YAML tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    "a custom tag": (
        b"kind: !policy PlacementPolicy\n",
        ", document 1, line 1: kind: unsupported YAML tag '!policy'",
    ),
    "a binary value": (
        b"kind: PlacementPolicy\nspec: !!binary aGVsbG8=\n",
        ", document 1, line 2: spec: unsupported YAML tag 'tag:yaml.org,2002:binary'",
    ),
    "a YAML 1.1 value key": (
        b"kind: PlacementPolicy\nspec: =\n",
        ", document 1, line 2: spec: unsupported YAML tag 'tag:yaml.org,2002:value'",
    ),
    "a list as a key": (
        b"kind: PlacementPolicy\n? [a, b]\n: c\n",
        ", document 1, line 2: a mapping key must be a plain value, not a list or a mapping",
    ),
    "a mapping as a key": (
        b"kind: PlacementPolicy\n? {a: b}\n: c\n",
        ", document 1, line 2: a mapping key must be a plain value, not a list or a mapping",
    ),
    "nesting 5,000 levels deep": (
        b"kind: PlacementPolicy\nspec: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        ", document 1, line 2: nested more than 64 levels deep",
    ),
    "an integer of 5,000 digits": (
        b"kind: PlacementPolicy\nspec: {order: " + b"9" * 5000 + b"}\n",
        ", document 1, line 2: spec.order: an integer of more than 100 characters",
    ),
    "an integer beyond 64 bits": (
        b"kind: PlacementPolicy\nspec: {order: 0x10000000000000000}\n",
        ", document 1, line 2: spec.order: an integer beyond 64 bits",
    ),
    "a lone surrogate": (
        b'kind: PlacementPolicy\nmetadata: {name: "\\ud83d"}\n',
        ", document 1, line 2: metadata.name: a lone surrogate escape (such as \\ud83d) is "
        "not text",
    ),
    "a file of more than 1 MiB": (
        b"# " + b"x" * (1024 * 1024) + b"\n",
        ": the file is larger than 1048576 bytes (1 MiB)",
    ),
    "text that is not UTF-8": (b"kind: \xff\n", ": not UTF-8 text"),
    "a syntax error in the second document": (
        b"kind: PlacementPolicy\n---\nkind: [\n",
        ", document 2, line 4: invalid YAML",
    ),
}


@pytest.mark.parametrize(("data", "expected"), MALFORMED.values(), ids=list(MALFORMED))
def test_a_malformed_file_is_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, expected: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(data)
    with pytest.raises(PolicyError) as caught:
        load_policy_set(path)
    assert str(caught.value).startswith(f"{path}{expected}")
    assert "\n" not in str(caught.value)
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {path}") and err.count("\n") == 1


def test_a_surrogate_pair_from_a_json_writer_is_its_character(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(GOOD.replace(b"{key: example.com/good", b'{key: "\\ud83d\\ude00"'))
    with pytest.raises(PolicyError, match="key: Invalid value: '\U0001f600'"):
        load_policy_set(path)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Volume, PolicyStore[CompiledPolicySet], PolicyWatcher]:
    volume = Volume(tmp_path / "policies", {"a.yaml": GOOD})
    store = load_store([volume.root])
    return volume, store, PolicyWatcher(store, interval=0.1)


def metric(store: PolicyStore[CompiledPolicySet], line: str) -> bool:
    return line in Metrics(store).render().decode().splitlines()


@pytest.mark.parametrize(("data", "expected"), MALFORMED.values(), ids=list(MALFORMED))
def test_a_malformed_file_on_a_live_reload_is_refused_counted_and_shown(
    store: Any, data: bytes, expected: str
) -> None:
    volume, store, watcher = store
    good = store.current
    volume.write({"a.yaml": data})
    assert watcher.poll() is False
    assert store.current is good
    assert store.reloads == {"success": 0, "failure": 1}
    assert store.last_error is not None and expected in store.last_error
    assert metric(store, 'placement_webhook_policy_reloads_total{result="failure"} 1.0')
    assert metric(store, "placement_webhook_policy_reload_failing 1.0")


def test_a_bug_while_loading_is_a_refused_reload_counted_and_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever goes wrong in a reload, not only a PolicyError: nothing in the real loader can
    be made to raise anything else any more, so a bug is injected in the compile step."""
    volume = Volume(tmp_path / "policies", {"a.yaml": GOOD})
    loads = 0

    def compile_once(policy_set: PolicySet) -> CompiledPolicySet:
        nonlocal loads
        loads += 1
        if loads > 1:
            raise KeyError("a bug")
        return compile_policy_set(policy_set)

    store = PolicyStore([volume.root], compile_once)
    watcher = PolicyWatcher(store, interval=0.1)
    volume.write({"a.yaml": GOOD + b"    labels: {a: b}\n"})
    assert watcher.poll() is False
    assert store.reloads["failure"] == 1
    assert store.last_error == "unexpected error loading policies: KeyError: 'a bug'"
    assert metric(store, "placement_webhook_policy_reload_failing 1.0")
    assert "policy reload refused" in caplog.text


def test_the_running_server_reports_a_refused_file_in_readyz_and_metrics(tmp_path: Path) -> None:
    volume = Volume(tmp_path / "policies", {"a.yaml": GOOD})
    with running_server(tmp_path, [volume.root], ["--policy-poll-seconds", "0.2"]) as server:
        volume.write({"a.yaml": LAUGHS.encode()})
        ready: dict[str, Any] = {}
        for _ in range(300):  # up to 30 s: a guard against hanging, not a timing claim
            with urllib.request.urlopen(server.health_url + "/readyz", timeout=5) as r:
                ready = json.load(r)
            if ready["reloadFailures"]:
                break
            urllib.request.urlopen(server.health_url + "/healthz", timeout=5).close()
            time.sleep(0.1)
        assert ready["reloadFailures"] == 1
        assert "expands to more than 100000 values" in ready["lastReloadError"]
        assert ready["policies"] == 1
        with urllib.request.urlopen(server.health_url + "/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert 'placement_webhook_policy_reloads_total{result="failure"} 1.0' in metrics
