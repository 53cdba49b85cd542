"""A stand-in for kube-apiserver's list endpoints, on 127.0.0.1, for `--cluster`.

Serves recorded objects as the API does: `GET /api/v1/{nodes,namespaces,pods}` and, when
Karpenter is installed, discovery of `karpenter.sh/v1` and `GET /apis/karpenter.sh/v1/nodepools`;
each List paginated by `limit` and `continue` (the token is opaque to the client; its items come
without `kind`, as the API sends them). A test turns the knobs: forbid a resource (403 with the
Status RBAC answers with), refuse the credentials (401), cut the connection in the middle of a
page's body. Every request is recorded, for the RBAC the documentation asks for.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Doc = dict[str, Any]
CORE = {"nodes": "NodeList", "namespaces": "NamespaceList", "pods": "PodList"}
KARPENTER = "/apis/karpenter.sh/v1"
UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


@dataclass
class ListApi:
    objects: dict[str, list[Doc]] = field(default_factory=dict)  # plural -> objects
    karpenter: bool = False
    forbidden: set[str] = field(default_factory=set)
    unauthorized: bool = False
    drop_page: dict[str, int] = field(default_factory=dict)  # plural -> page cut mid-body
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def serve(self, plural: str, objects: Sequence[Mapping[str, Any]]) -> None:
        """Record objects as the API stores them (a List's items carry no kind)."""
        self.objects[plural] = [
            {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in objects
        ]


def forbidden(plural: str, group: str) -> Doc:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{plural} is forbidden: User "jane@example.com" cannot list resource '
        f'"{plural}" in API group "{group}" at the cluster scope',
        "reason": "Forbidden",
        "details": {"kind": plural},
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
        api.requests.append((url.path, query))
        if api.unauthorized:
            self._json(401, UNAUTHORIZED)
            return
        if url.path == KARPENTER:
            if not api.karpenter:
                self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                return
            self._json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                             "groupVersion": "karpenter.sh/v1", "resources": [
                                 {"name": "nodepools", "singularName": "nodepool",
                                  "namespaced": False, "kind": "NodePool",
                                  "verbs": ["get", "list", "watch"]}]})  # fmt: skip
            return
        plural, group, kind = self._resource(url.path)
        if plural is None:
            self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        elif plural in api.forbidden:
            self._json(403, forbidden(plural, group))
        else:
            self._page(api, plural, kind, query)

    def _resource(self, path: str) -> tuple[str | None, str, str]:
        if path.startswith("/api/v1/") and path[8:] in CORE:
            return path[8:], "", CORE[path[8:]]
        if path == f"{KARPENTER}/nodepools" and self.server.api.karpenter:
            return "nodepools", "karpenter.sh", "NodePoolList"
        return None, "", ""

    def _page(self, api: ListApi, plural: str, kind: str, query: Mapping[str, str]) -> None:
        objects = api.objects.get(plural, [])
        start = int(base64.b64decode(query["continue"])) if query.get("continue") else 0
        limit = int(query.get("limit") or len(objects) or 1)
        items = objects[start : start + limit]
        meta: Doc = {"resourceVersion": "4711"}
        if start + limit < len(objects):
            meta["continue"] = base64.b64encode(str(start + limit).encode()).decode()
            meta["remainingItemCount"] = len(objects) - start - limit
        body = {"kind": kind, "apiVersion": "v1", "metadata": meta, "items": items}
        if kind == "NodePoolList":
            body["apiVersion"] = "karpenter.sh/v1"
        page = start // limit
        if api.drop_page.get(plural) == page:
            self._cut(json.dumps(body).encode())
        else:
            self._json(200, body)

    def _cut(self, data: bytes) -> None:
        """Headers promising the whole page, half of it, and the connection closed."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _json(self, status: int, body: Doc) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: ListApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


@contextmanager
def list_apiserver(api: ListApi) -> Iterator[str]:
    """Serve `api` on a free loopback port; yields its base URL."""
    server = _Server(api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
