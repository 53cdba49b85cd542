"""A minimal Language Server Protocol client: the real yaml-language-server (from npm, pinned in
package.json) over stdio JSON-RPC, answering the requests an editor answers."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
# Long enough for a cold node start on a loaded machine; a bound, not an assertion.
WAIT_SECONDS = 60.0
# What an editor sends beside its YAML settings: no proxy, no schema store fetched (it is on
# the network), nothing from a CRD catalogue.
OFFLINE = {"schemaStore": {"enable": False}, "kubernetesCRDStore": {"enable": False}}

Message = dict[str, Any]


def editor_settings(settings_file: Path | None) -> dict[str, Any]:
    """The `yaml` section VS Code would send for a workspace `settings.json` (flat keys)."""
    section: dict[str, Any] = {"validate": True, **OFFLINE}
    if settings_file is not None:
        flat = json.loads(settings_file.read_text())
        section |= {k.removeprefix("yaml."): v for k, v in flat.items() if k.startswith("yaml.")}
    return section


def _read_messages(stream: BinaryIO, out: queue.Queue[Message | None]) -> None:
    while True:
        headers: dict[str, str] = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("ascii").partition(":")
            headers[name.strip().lower()] = value.strip()
        if not headers:
            out.put(None)  # the server exited
            return
        out.put(json.loads(stream.read(int(headers["content-length"]))))


def diagnostics_of(uri: str) -> Callable[[Message], bool]:
    def wanted(message: Message) -> bool:
        return bool(
            message.get("method") == "textDocument/publishDiagnostics"
            and message["params"]["uri"] == uri
        )

    return wanted


@dataclass
class LanguageServer:
    process: subprocess.Popen[bytes]
    settings: dict[str, Any]
    inbox: queue.Queue[Message | None] = field(default_factory=queue.Queue)
    next_id: int = 0
    version: int = 0

    def send(self, message: Message) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        ident = self.next_id
        self.send({"id": ident, "method": method, "params": params})
        return self.wait_for(lambda m: m.get("id") == ident and "method" not in m).get("result")

    def wait_for(self, wanted: Callable[[Message], bool]) -> Message:
        """The next message `wanted(message)` accepts; the server's requests are answered."""
        while True:
            try:
                message = self.inbox.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                raise AssertionError("yaml-language-server sent nothing in time") from None
            if message is None:
                raise AssertionError("yaml-language-server exited")
            if "method" in message and "id" in message:
                self.send({"id": message["id"], "result": self.answer(message)})
            if wanted(message):
                return message

    def answer(self, request: Message) -> Any:
        if request["method"] == "workspace/configuration":
            sections = {"yaml": self.settings, "http": {}, "[yaml]": {}, "editor": {}}
            return [sections.get(item.get("section"), {}) for item in request["params"]["items"]]
        return None  # client/registerCapability and the like: acknowledged

    def diagnostics(self, path: Path, text: str | None = None) -> list[Message]:
        """Open `path` (with `text` in place of what is on disk) and return its diagnostics."""
        uri = path.resolve().as_uri()
        content = path.read_text() if text is None else text
        # The server caches a parse by (uri, version): each opening is a new version.
        self.version += 1
        document = {"uri": uri, "languageId": "yaml", "version": self.version, "text": content}
        self.notify("textDocument/didOpen", {"textDocument": document})
        published = self.wait_for(diagnostics_of(uri))
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self.wait_for(diagnostics_of(uri))  # closing clears them: nothing is left in flight
        diagnostics: list[Message] = published["params"]["diagnostics"]
        return diagnostics


@contextlib.contextmanager
def yaml_language_server(root: Path, settings_file: Path | None = None) -> Iterator[LanguageServer]:
    """A started server with `root` as its workspace, configured as an editor would be."""
    process = subprocess.Popen(
        ["node", str(SERVER), "--stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    server = LanguageServer(process, editor_settings(settings_file))
    assert process.stdout is not None
    threading.Thread(
        target=_read_messages, args=(process.stdout, server.inbox), daemon=True
    ).start()
    try:
        server.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": {"workspace": {"configuration": True}},
            },
        )
        # Asks the server to say when it has applied the settings it pulls after `initialized`.
        server.notify("yaml/supportSchemaSelection", {})
        server.notify("initialized", {})
        server.wait_for(lambda m: m.get("method") == "yaml/schema/store/initialized")
        yield server
        server.request("shutdown", None)
        server.notify("exit", None)
        process.wait(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
