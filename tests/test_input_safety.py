"""`mutate` and `preview` read their input with the safe reader policy files use: a YAML alias
bomb or deep nesting (YAML or JSON) is one error line and exit 1, never a crash, a traceback or
a process grown past its memory. Each runs the real command in a subprocess, so a crash (a
signal, an exhausted stack) would show as one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live_pods import golden_pods
from webhook.tools.inputs.jsonstream import JsonStream

REPO = Path(__file__).resolve().parent.parent


def alias_bomb() -> bytes:
    """A Pod whose one argument list expands to 9^9 (387 million) strings: 657 bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    head = "apiVersion: v1\nkind: Pod\nmetadata: {name: bomb}\nx-laughs:\n"
    body = "".join(f"  {line}\n" for line in lines)
    tail = "spec: {containers: [{name: main, image: x, args: *i}]}\n"
    text = head + body + tail
    return (text + "#" * (657 - len(text) - 1) + "\n").encode()


def nested_yaml(depth: int = 20_000) -> bytes:
    return (
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec: " + b"[" * depth + b"]" * depth
    )


def nested_json(depth: int = 20_000) -> bytes:
    return b'{"apiVersion": "v1", "kind": "Pod", "spec": ' + b"[" * depth + b"]" * depth + b"}"


def cli(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook.tools.cli", *argv],
        input=stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


@pytest.mark.parametrize("command", ["mutate", "preview"])
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bomb.yaml", alias_bomb(), "the document expands to more than 100000 values"),
        # libyaml's own limit, else the reader's (nested more than 128 levels deep)
        ("deep.yaml", nested_yaml(), "nest"),
        ("deep.json", nested_json(), "invalid JSON: nested too deeply"),
    ],
    ids=["alias bomb", "20,000 levels of YAML", "20,000 levels of JSON"],
)
def test_hostile_input_is_one_line_and_exit_1(
    tmp_path: Path, command: str, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    if name == "bomb.yaml":
        assert len(data) == 657
    for argv, stdin in (([command, str(path)], b""), ([command, "-"], data)):
        run = cli(*argv, stdin=stdin)
        assert (run.returncode, run.stdout) == (1, ""), run.stderr
        assert len(run.stderr.splitlines()) == 1, run.stderr
        assert run.stderr.startswith("error: ") and message in run.stderr
        assert "Traceback" not in run.stderr


def test_a_json_list_read_in_small_chunks_is_the_same_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values cut by the end of a chunk anywhere (in a string, a number, a literal, between
    items) are read whole once the next chunk comes."""
    listing = {"kind": "List", "apiVersion": "v1", "items": golden_pods()[:6],
               "metadata": {"n": 12345, "t": True}}  # fmt: skip
    text = json.dumps(listing, indent=4, default=str)
    for size in (1, 7, 64, 1000):
        position = 0

        def read(limit: int, text: str = text, size: int = size) -> str:
            nonlocal position
            chunk = text[position : position + min(limit, size)]
            position += len(chunk)
            return chunk

        monkeypatch.setattr("webhook.tools.inputs.jsonstream.CHUNK", size)
        ((fields, items),) = [(f, list(i) if i is not None else None)
                              for f, i in JsonStream(read).documents()]  # fmt: skip
        # Those before the items are known while they are read; the rest once all are.
        assert fields == {"kind": "List", "apiVersion": "v1", "metadata": listing["metadata"]}
        assert items == json.loads(text)["items"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"kind": "List", "items": [{"a": 1},\n {"b": }]}',
            "invalid JSON: Expecting value (line 2)",
        ),
        ('{"kind": "List", "items": [{"a": 1}', "invalid JSON: expected ',', found the end"),
        ('{"kind": "Pod"} 7', "document 2: not a Kubernetes object"),
    ],
    ids=["a bad value", "cut short", "a second value that is not an object"],
)
def test_malformed_json_is_one_line_naming_where(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pods.json").write_text(text)
    run = cli("preview", str(tmp_path / "pods.json"))
    errors = [line for line in run.stderr.splitlines() if not line.startswith("skipped: ")]
    assert run.returncode == 1 and len(errors) == 1, run.stderr
    assert errors[0].startswith("error: ") and message in errors[0]
