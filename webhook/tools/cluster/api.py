"""`--cluster`: read-only lists from kube-apiserver, with the official `kubernetes` client.

Lists are read a page at a time (`limit` and `continue`, as `kubectl get --chunk-size` does),
each page decoded as the raw JSON the API sent (a typed model would drop fields it does not
know), its items handed on before the next page is asked for: the whole List is never held.
Every failure is one line: the credentials refused (401), a permission missing (403: the verb
and resource to grant), the API unreachable or the connection lost, a malformed answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from webhook.errors import one_line

if TYPE_CHECKING:
    from kubernetes import client

CHUNK_SIZE = 500  # kubectl's default --chunk-size
TIMEOUT = (10, 120)  # seconds to connect, to wait for a page
SHOWN = 200  # characters of the API's own message in an error line


class ClusterError(Exception):
    """Reading the cluster failed; the message is one line saying what to do."""


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str  # of each item (a List's items carry none)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_group(self) -> str:
        return f'API group "{self.group}"'


NODES = Resource("", "v1", "nodes", "Node")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace")
PODS = Resource("", "v1", "pods", "Pod")
KARPENTER_NODEPOOLS = Resource("karpenter.sh", "v1", "nodepools", "NodePool")


class Cluster:
    """One cluster's API, read with `list` only."""

    def __init__(self, api: client.ApiClient, chunk_size: int = CHUNK_SIZE) -> None:
        # Imported here: the client takes most of a second to import, and only --cluster uses it.
        from kubernetes import client

        self.client = client
        self.api = api
        self.chunk_size = chunk_size
        self.server = str(api.configuration.host)

    @classmethod
    def connect(
        cls, kubeconfig: str | None, context: str | None, chunk_size: int = CHUNK_SIZE
    ) -> Cluster:
        """From `kubeconfig`/`context` when given; else in a pod, its service account; else
        $KUBECONFIG or ~/.kube/config, as kubectl."""
        from kubernetes import client, config

        try:
            if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                api = client.ApiClient(configuration)
            else:
                api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=kubeconfig, context=context, persist_config=False
                )
        except (config.ConfigException, OSError, ValueError) as exc:
            raise ClusterError(
                f"no Kubernetes configuration to connect with: {_short(exc)} (give --kubeconfig, "
                "set KUBECONFIG, or run in a pod)"
            ) from None
        return cls(api, chunk_size)

    def served(self, resource: Resource) -> bool:
        """Whether the API serves the resource (a CRD may not be installed): discovery, which
        every authenticated user may read."""
        import urllib3

        client = self.client
        try:
            found = client.CustomObjectsApi(self.api).get_api_resources(
                resource.group, resource.version, _request_timeout=TIMEOUT
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise self._refused(exc, resource, "discover") from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc, resource) from None
        return any(r.name == resource.plural for r in found.resources or [])

    def list(self, resource: Resource) -> Iterator[dict[str, Any]]:
        """Every object of the resource (all namespaces), page by page."""
        token: str | None = None
        while True:
            page = self._page(resource, token)
            items = page.get("items")
            if not isinstance(items, list):
                raise ClusterError(
                    f"the API at {self.server} answered the list of {resource} without items"
                )
            for item in items:
                if isinstance(item, dict):
                    # A built-in type's List leaves its items' kind out; they are the list's.
                    item.setdefault("kind", resource.kind)
                    item.setdefault("apiVersion", resource.api_version)
                    yield item
            meta = page.get("metadata")
            token = meta.get("continue") if isinstance(meta, dict) else None
            if not token:
                return

    def _page(self, resource: Resource, token: str | None) -> dict[str, Any]:
        options: dict[str, Any] = {"limit": self.chunk_size, "_request_timeout": TIMEOUT}
        if token:
            options["_continue"] = token
        import urllib3

        try:
            response = self._request(resource, options)
            body = response.data
        except self.client.ApiException as exc:
            raise self._refused(exc, resource, "list") from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc, resource) from None
        try:
            page = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ClusterError(
                f"the API at {self.server} answered the list of {resource} with something that "
                f"is not JSON: {exc}"
            ) from None
        if not isinstance(page, dict):
            raise ClusterError(f"the API at {self.server} answered the list of {resource} "
                               "with something that is not a list")  # fmt: skip
        return page

    def _request(self, resource: Resource, options: dict[str, Any]) -> Any:
        client = self.client
        if resource.group:
            return client.CustomObjectsApi(self.api).list_cluster_custom_object(
                resource.group, resource.version, resource.plural, _preload_content=False,
                **options,
            )  # fmt: skip
        core = client.CoreV1Api(self.api)
        method: Any = {
            "nodes": core.list_node,
            "namespaces": core.list_namespace,
            "pods": core.list_pod_for_all_namespaces,
        }[resource.plural]
        return method(_preload_content=False, **options)

    def _refused(self, exc: client.ApiException, resource: Resource, verb: str) -> ClusterError:
        said = _api_message(exc)
        if exc.status == 401:
            return ClusterError(
                f"the API at {self.server} refused the credentials (401 Unauthorized): renew "
                "the token or certificate of the kubeconfig's user"
            )
        if exc.status == 403:
            scope = "at cluster scope" if resource.plural != "pods" else "in all namespaces"
            return ClusterError(
                f"not allowed to {verb} {resource} (403 Forbidden): grant the verb {verb!r} on "
                f'"{resource.plural}" in {resource.api_group} {scope} (docs/install.md, '
                f"RBAC for --cluster); the API says: {said}"
            )
        if exc.status == 0:  # the client's own failure: TLS, a request it could not make
            return ClusterError(f"cannot reach the API at {self.server}: {said}")
        return ClusterError(
            f"listing {resource} failed: {exc.status} {exc.reason or ''}".rstrip() + f": {said}"
        )

    def _unreachable(self, exc: Exception, resource: Resource) -> ClusterError:
        return ClusterError(
            f"cannot read {resource} from the API at {self.server}: {_short(_cause(exc))} (is "
            "the cluster reachable from here?)"
        )


def _cause(exc: Exception) -> str:
    """What went wrong under urllib3's wrapping: the refused or reset connection, the body cut
    short, not the retry bookkeeping around them."""
    reason = getattr(exc, "reason", None)  # MaxRetryError: the last attempt's error
    error: BaseException = reason if isinstance(reason, BaseException) else exc
    text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
    return text.split("): ", 1)[-1]  # "HTTPConnection(host=..., port=...): Failed to ..."


def _api_message(exc: client.ApiException) -> str:
    """The `message` of the Status the API answered with, else its reason."""
    try:
        status = orjson.loads(exc.body or b"")
    except orjson.JSONDecodeError:
        status = None
    message = status.get("message") if isinstance(status, dict) else None
    return _short(message or exc.reason or "no message")


def _short(value: object) -> str:
    text = one_line(str(value))
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."
