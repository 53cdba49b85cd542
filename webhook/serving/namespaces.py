"""The labels of every Namespace, held in memory for `namespaceSelector` clauses.

An AdmissionReview does not carry its namespace's labels, and asking the apiserver on each
review would put a second API call on the critical path of every pod creation. So a background
thread lists Namespaces once, then follows a watch from the list's resourceVersion (the
informer pattern of client-go), and the request path only reads a dict.

A namespace the view has not seen yet (created a moment before its first pod, its watch
event still on the way) gets one direct read, with a deadline of DIRECT_READ_SECONDS, before
the review is decided. While the view is not synced (not yet listed, or the watch broke and the
relist has not succeeded yet), or when that read fails, it answers "unknown": the policies
whose match or exclude reads namespace labels are then skipped, and the review carries a
warning saying why. Stale or guessed labels are never used to place a pod.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("webhook.namespaces")

GONE = 410  # the resourceVersion we watch from was compacted away: list again
# The direct read of a namespace the view lacks holds its review (and the worker's event loop)
# this long at most: well inside the webhook's 5 s timeout, and rare (a new namespace's first
# pods, before its watch event).
DIRECT_READ_SECONDS = 1.0
WARNING_PREFIX = "pod-placement-webhook: "


class NamespaceView:
    """Namespace name -> labels. Written by one watcher thread, read by the request path."""

    def __init__(self) -> None:
        # Replaced whole on a relist and changed key by key on events: both are single
        # dict operations, atomic under the GIL, so readers need no lock.
        self._labels: dict[str, Mapping[str, str]] = {}
        self._synced = False
        self.problem = "not yet listed"
        self.resource_version: str | None = None
        self.relists = 0
        self.unknown_answers = 0
        self.direct_reads = 0
        self.direct_read_failures = 0
        # Reads one namespace's labels from the apiserver (None: it failed); set by the
        # watcher's owner, None offline.
        self.fetch: Callable[[str], Mapping[str, str] | None] | None = None

    @property
    def synced(self) -> bool:
        return self._synced

    def __len__(self) -> int:
        return len(self._labels)

    def lookup(self, namespace: str) -> tuple[Mapping[str, str] | None, str | None]:
        """(labels, None), or (None, a warning for the review) when the labels are unknown.

        The signature of `admission.NamespaceLabels`."""
        if not self._synced:
            self.unknown_answers += 1
            return None, (
                f"{WARNING_PREFIX}namespace labels unknown ({self.problem}): "
                "namespaceSelector policies skipped"
            )
        labels = self._labels.get(namespace)
        if labels is None:
            # Created a moment ago and its watch event is still on the way.
            labels = self._read(namespace)
        if labels is None:
            self.unknown_answers += 1
            return None, (
                f"{WARNING_PREFIX}namespace not in the namespace view yet and not readable: "
                "namespaceSelector policies skipped"
            )
        return labels, None

    def _read(self, namespace: str) -> Mapping[str, str] | None:
        if self.fetch is None:
            return None
        self.direct_reads += 1
        labels = self.fetch(namespace)
        if labels is None:
            self.direct_read_failures += 1
            return None
        # The watch event that follows replaces it, whatever came first.
        self._labels.setdefault(namespace, labels)
        return labels

    def replace(self, namespaces: Mapping[str, Mapping[str, str]], resource_version: str) -> None:
        self._labels = dict(namespaces)
        self.resource_version = resource_version
        self.relists += 1
        self.problem = ""
        self._synced = True

    def apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """One watch event (ADDED, MODIFIED, DELETED) as the raw JSON object."""
        metadata = obj.get("metadata") or {}
        name = metadata.get("name")
        if isinstance(name, str):
            if event_type == "DELETED":
                self._labels.pop(name, None)
            else:
                self._labels[name] = dict(metadata.get("labels") or {})
        self.advance(metadata.get("resourceVersion"))

    def advance(self, resource_version: object) -> None:
        if isinstance(resource_version, str) and resource_version:
            self.resource_version = resource_version

    def broken(self, problem: str) -> None:
        self._synced = False
        self.problem = problem


# What a list or watch can fail with: the apiserver's errors, the connection's, and a body
# that is not the JSON it should be.
_TRANSIENT = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError, KeyError, TypeError)


class NamespaceWatcher:
    """Keeps a NamespaceView current from list+watch, in a daemon thread."""

    def __init__(
        self,
        view: NamespaceView,
        api: client.CoreV1Api,
        watch_seconds: int = 300,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.view = view
        self.api = api
        self.watch_seconds = watch_seconds
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self._stopping = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name="namespace-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        current = self._watch
        if current is not None:
            current.stop()  # type: ignore[no-untyped-call]  # unblocks a read in progress
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.min_backoff
        try:
            while not self._stopping.is_set():
                try:
                    self._list()
                    delay = self.min_backoff
                    self._follow()
                except ApiException as exc:
                    if exc.status == GONE:
                        log.info("namespace watch expired (410 Gone): listing again")
                        continue
                    self._broken(f"apiserver answered {exc.status} {exc.reason}", delay)
                    delay = min(delay * 2, self.max_backoff)
                except _TRANSIENT as exc:
                    self._broken(f"{type(exc).__name__}: {exc}", delay)
                    delay = min(delay * 2, self.max_backoff)
        finally:
            # Whatever ended the thread, stale labels must not keep placing pods.
            self.view.broken("namespace watcher stopped")

    def _broken(self, reason: str, retry_in: float) -> None:
        if self._stopping.is_set():
            return
        self.view.broken("watch broken")
        log.warning("namespace view not synced: %s; listing again in %.1fs", reason, retry_in)
        self._stopping.wait(retry_in)

    def _list(self) -> None:
        listed = self.api.list_namespace(_request_timeout=(10, 60))
        namespaces = {
            item.metadata.name: dict(item.metadata.labels or {})
            for item in listed.items
            if item.metadata is not None and item.metadata.name
        }
        version = listed.metadata.resource_version if listed.metadata is not None else None
        self.view.replace(namespaces, version or "")
        log.info("namespace view synced: %d namespaces at resourceVersion %s",
                 len(namespaces), self.view.resource_version)  # fmt: skip

    def _follow(self) -> None:
        """Watch from the view's resourceVersion until the stop flag or a failure; a watch the
        server ends cleanly (its timeoutSeconds) is resumed where it stopped."""
        while not self._stopping.is_set():
            self._watch = watch.Watch()  # type: ignore[no-untyped-call]
            events = self._watch.stream(  # type: ignore[no-untyped-call]
                self.api.list_namespace,
                resource_version=self.view.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_seconds,
                # A watch that goes silent past its own timeout is a dead connection.
                _request_timeout=(10, self.watch_seconds + 30),
            )
            for event in events:
                if self._stopping.is_set():
                    self._watch.stop()  # type: ignore[no-untyped-call]
                    break
                if not isinstance(event, dict):
                    continue  # a blank line in the stream
                kind, obj = event["type"], event["raw_object"]
                if kind == "BOOKMARK":
                    self.view.advance((obj.get("metadata") or {}).get("resourceVersion"))
                elif kind in ("ADDED", "MODIFIED", "DELETED"):
                    self.view.apply(kind, obj)


def cluster_api() -> client.CoreV1Api:
    """A CoreV1Api from the in-cluster service account, else from the kubeconfig
    ($KUBECONFIG or ~/.kube/config) for running outside a cluster."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.CoreV1Api()


def reader(
    api: client.CoreV1Api, seconds: float = DIRECT_READ_SECONDS
) -> Callable[[str], Mapping[str, str] | None]:
    """One namespace's labels, read from the apiserver within `seconds` (None on any failure,
    logged)."""

    def read(name: str) -> Mapping[str, str] | None:
        try:
            namespace = api.read_namespace(name, _request_timeout=(seconds, seconds))
        except _TRANSIENT as exc:
            log.warning("namespace %s: direct read failed: %s", name, type(exc).__name__)
            return None
        metadata = namespace.metadata
        return dict(metadata.labels or {}) if metadata is not None else {}

    return read


def start_namespace_view(
    api: client.CoreV1Api | None = None,
) -> tuple[NamespaceView, NamespaceWatcher]:
    api = api or cluster_api()
    view = NamespaceView()
    view.fetch = reader(api)
    watcher = NamespaceWatcher(view, api)
    watcher.start()
    return view, watcher
