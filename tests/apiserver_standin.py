"""A stand-in for the apiserver's Namespace list and watch endpoints, on 127.0.0.1.

Speaks what the official `kubernetes` client expects: `GET /api/v1/namespaces` returns a
NamespaceList with a resourceVersion; with `?watch=true&resourceVersion=N` it streams one JSON
watch event per line (chunked) for every change after N, then waits for more, and ends the
watch cleanly once its `timeoutSeconds` have passed, as the apiserver does. The test drives it:
label or delete a Namespace, send a BOOKMARK (to watches that asked with
`allowWatchBookmarks=true`), drop every open watch (the connection is cut mid-stream), end
watches cleanly, compact history (a watch from an older resourceVersion gets the 410 Expired
ERROR event), refuse lists (503), or forbid lists and watches (403, as RBAC does).
`GET /api/v1/namespaces/<name>` reads one Namespace; a Namespace created `unseen` is readable
that way but its watch event is held back, as when a pod's review comes before the event.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

Doc = dict[str, Any]


class NamespaceApi:
    """The cluster state the stand-in serves, and the knobs a test turns."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.resource_version = 1
        self.namespaces: dict[str, Doc] = {}
        self.history: list[tuple[int, str, Doc]] = []
        self.compacted_below = 0
        self.refuse_lists = False
        self.forbidden = False
        self.lists = 0
        self.watches = 0
        self.watch_queries: list[dict[str, str]] = []  # the query of every watch request
        self.open_watches = 0
        self.drops = 0  # bumped to cut every open watch
        self.ends = 0  # bumped to end every open watch cleanly
        self.closed = False
        self.reads: list[str] = []  # the names read one by one
        self.read_delay = 0.0  # seconds a single read waits before answering

    def label(self, name: str, labels: Mapping[str, str], unseen: bool = False) -> None:
        """Create the Namespace, or replace its labels; `unseen`: no watch event yet."""
        with self.changed:
            kind = "MODIFIED" if name in self.namespaces else "ADDED"
            self._record(kind, name, dict(labels), unseen)

    def delete(self, name: str) -> None:
        with self.changed:
            labels = self.namespaces[name]["metadata"]["labels"]
            self._record("DELETED", name, labels)

    def _record(self, kind: str, name: str, labels: dict[str, str], unseen: bool = False) -> None:
        self.resource_version += 1
        obj = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "uid": f"uid-{name}",
                "resourceVersion": str(self.resource_version),
                "labels": {"kubernetes.io/metadata.name": name, **labels},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        if kind == "DELETED":
            self.namespaces.pop(name)
        else:
            self.namespaces[name] = obj
        if not unseen:
            self.history.append((self.resource_version, kind, obj))
        self.changed.notify_all()

    def bookmark(self) -> None:
        """The resourceVersion moves on with no Namespace changed (another kind of object did):
        open watches that allow bookmarks are told so by a BOOKMARK event."""
        with self.changed:
            self.resource_version += 1
            progress = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"resourceVersion": str(self.resource_version)},
            }
            self.history.append((self.resource_version, "BOOKMARK", progress))
            self.changed.notify_all()

    def drop_watches(self) -> None:
        with self.changed:
            self.drops += 1
            self.changed.notify_all()

    def end_watches(self) -> None:
        with self.changed:
            self.ends += 1
            self.changed.notify_all()

    def compact(self) -> None:
        """Forget history: a watch from any resourceVersion handed out so far gets 410.

        The resourceVersion moves on first, as etcd's does when any other object changes, so
        the next list hands out one that can be watched."""
        with self.changed:
            self.resource_version += 1
            self.compacted_below = self.resource_version

    def namespace_list(self) -> Doc:
        with self.changed:
            self.lists += 1
            return {
                "apiVersion": "v1",
                "kind": "NamespaceList",
                "metadata": {"resourceVersion": str(self.resource_version)},
                "items": list(self.namespaces.values()),
            }


FORBIDDEN = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": 'namespaces is forbidden: User "system:serviceaccount:pod-placement-webhook:'
    'pod-placement-webhook" cannot list resource "namespaces" in API group "" at the cluster '
    "scope",
    "reason": "Forbidden",
    "details": {"kind": "namespaces"},
    "code": 403,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        api = self.server.api
        if url.path.startswith("/api/v1/namespaces/"):
            self._read(api, url.path.removeprefix("/api/v1/namespaces/"))
        elif url.path != "/api/v1/namespaces":
            self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        elif api.forbidden:
            self._json(403, FORBIDDEN)
        elif query.get("watch") in ("true", "1"):
            with api.changed:
                api.watch_queries.append(query)
            self._watch(api, query)
        elif api.refuse_lists:
            self._json(503, {"kind": "Status", "code": 503, "reason": "ServiceUnavailable"})
        else:
            self._json(200, api.namespace_list())

    def _read(self, api: NamespaceApi, name: str) -> None:
        with api.changed:
            api.reads.append(name)
            found = api.namespaces.get(name)
        time.sleep(api.read_delay)
        if api.forbidden:
            self._json(403, FORBIDDEN)
        elif found is None:
            self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        else:
            self._json(200, found)

    def _json(self, status: int, body: Doc) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, event: Doc) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _watch(self, api: NamespaceApi, query: Mapping[str, str]) -> None:
        since = int(query.get("resourceVersion") or 0)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(query.get("timeoutSeconds") or 3600)
        ends_at = time.monotonic() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with api.changed:
            api.watches += 1
            drops, ends = api.drops, api.ends
            if since < api.compacted_below:
                expired = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"too old resource version: {since} ({api.compacted_below})",
                    "reason": "Expired",
                    "code": 410,
                }
                self._chunk({"type": "ERROR", "object": expired})
                self.wfile.write(b"0\r\n\r\n")
                return
            api.open_watches += 1
            try:
                while True:
                    for version, kind, obj in api.history:
                        if version > since:
                            if kind != "BOOKMARK" or bookmarks:
                                self._chunk({"type": kind, "object": obj})
                            since = version
                    if api.closed or api.drops != drops:
                        # Cut mid-stream: no terminating chunk, as when a node or a proxy
                        # between the webhook and the apiserver goes away.
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    left = ends_at - time.monotonic()
                    if api.ends != ends or left <= 0:
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    api.changed.wait(min(left, 1.0))
            finally:
                api.open_watches -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: NamespaceApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


@contextmanager
def namespace_apiserver() -> Iterator[tuple[NamespaceApi, str]]:
    """Serve a NamespaceApi on a free loopback port; yields it and its base URL."""
    api = NamespaceApi()
    server = _Server(api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        with api.changed:
            api.closed = True
            api.changed.notify_all()
        server.shutdown()
        server.server_close()


def write_kubeconfig(path: Path, url: str) -> Path:
    """A kubeconfig for the stand-in, as `serve` reads it outside a cluster ($KUBECONFIG)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "standin", "cluster": {"server": url}}],
        "users": [{"name": "standin", "user": {"token": "standin"}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
        "current-context": "standin",
    }
    path.write_text(json.dumps(config))
    return path
