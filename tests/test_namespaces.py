"""The in-memory Namespace label view, fed by the real `kubernetes` client from a local stand-in
for the apiserver's list and watch endpoints; and the server that uses it, end to end."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from tests.apiserver_standin import NamespaceApi, namespace_apiserver, write_kubeconfig
from tests.scraping import (
    client,
    eventually,
    plain_pod,
    pod_review,
    response_of,
    scrape,
    send,
    value,
)
from tests.servers import running_server
from webhook.serving.namespaces import NamespaceView, NamespaceWatcher, reader

TEAM_POLICY = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: ml-team-pool
spec:
  match:
    namespaceSelector:
      matchLabels: {team: ml}
  add:
    nodeAffinity:
      required:
        - {key: pool, operator: In, values: [ml]}
"""


def core_api(url: str) -> kubernetes.client.CoreV1Api:
    configuration = kubernetes.client.Configuration()
    configuration.host = url
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))


@pytest.fixture
def cluster() -> Iterator[tuple[NamespaceApi, str]]:
    with namespace_apiserver() as (api, url):
        api.label("default", {})
        api.label("ml", {"team": "ml"})
        yield api, url


@pytest.fixture
def watched(cluster: tuple[NamespaceApi, str]) -> Iterator[tuple[NamespaceApi, NamespaceView]]:
    api, url = cluster
    view = NamespaceView()
    watcher = NamespaceWatcher(view, core_api(url), watch_seconds=60, min_backoff=0.05)
    watcher.start()
    try:
        eventually(lambda: view.synced and api.open_watches == 1, "listed and watching")
        yield api, view
    finally:
        watcher.stop()


def labels_of(view: NamespaceView, name: str) -> dict[str, str] | None:
    labels, _ = view.lookup(name)
    return None if labels is None else dict(labels)


def test_the_list_fills_the_view(watched: tuple[NamespaceApi, NamespaceView]):
    api, view = watched
    assert labels_of(view, "ml") == {"kubernetes.io/metadata.name": "ml", "team": "ml"}
    assert len(view) == 2
    assert view.resource_version == str(api.resource_version)
    assert (api.lists, view.relists) == (1, 1)


def test_a_label_change_arrives_by_the_watch_without_a_relist(
    watched: tuple[NamespaceApi, NamespaceView],
):
    api, view = watched
    api.label("default", {"workload-tier": "batch"})
    api.label("research", {"team": "research"})
    eventually(lambda: labels_of(view, "research") is not None, "the new namespace is seen")
    assert labels_of(view, "default") == {
        "kubernetes.io/metadata.name": "default",
        "workload-tier": "batch",
    }
    assert view.resource_version == str(api.resource_version)
    assert api.lists == 1


def test_a_deleted_namespace_is_unknown(watched: tuple[NamespaceApi, NamespaceView]):
    api, view = watched
    api.delete("ml")
    eventually(lambda: labels_of(view, "ml") is None, "the deletion is seen")
    labels, warning = view.lookup("ml")
    assert labels is None
    assert warning is not None and "namespace not in the namespace view yet" in warning
    assert view.synced


def test_a_dropped_watch_relists_and_misses_nothing(watched: tuple[NamespaceApi, NamespaceView]):
    api, view = watched
    watches = api.watches
    api.drop_watches()
    # Changed while the connection is down: only a relist (or a resumed watch) can see it.
    api.label("ml", {"team": "ml", "workload-tier": "batch"})
    api.delete("default")
    eventually(lambda: labels_of(view, "ml") == {
        "kubernetes.io/metadata.name": "ml", "team": "ml", "workload-tier": "batch"
    }, "the change made while the watch was down")  # fmt: skip
    eventually(lambda: view.synced and api.open_watches == 1, "watching again")
    assert labels_of(view, "default") is None
    assert api.lists == 2 and view.relists == 2, "a broken watch lists again"
    assert api.watches > watches
    api.label("ml", {"team": "ml"})
    eventually(lambda: labels_of(view, "ml") == {
        "kubernetes.io/metadata.name": "ml", "team": "ml"
    }, "a change after the new watch")  # fmt: skip


def test_a_watch_ended_by_the_server_resumes_from_its_resource_version(
    watched: tuple[NamespaceApi, NamespaceView],
):
    api, view = watched
    watches = api.watches
    api.end_watches()
    eventually(lambda: api.watches > watches and api.open_watches == 1, "watching again")
    api.label("ml", {"team": "platform"})
    eventually(lambda: (labels_of(view, "ml") or {}).get("team") == "platform", "the change")
    assert api.lists == 1, "a watch the server ended cleanly resumes without a list"


def snapshot(view: NamespaceView, names: list[str]) -> dict[str, dict[str, str] | None]:
    return {name: labels_of(view, name) for name in names}


def test_a_bookmark_moves_the_resource_version_on_and_changes_no_labels(
    watched: tuple[NamespaceApi, NamespaceView],
):
    api, view = watched
    assert api.watch_queries[-1]["allowWatchBookmarks"] == "true"
    before = snapshot(view, ["default", "ml"])
    api.bookmark()
    eventually(lambda: view.resource_version == str(api.resource_version), "the bookmark's RV")
    assert snapshot(view, ["default", "ml"]) == before
    assert len(view) == 2 and view.synced
    api.end_watches()  # the next watch starts from the bookmark, not from the list
    eventually(lambda: len(api.watch_queries) == 2 and api.open_watches == 1, "watching again")
    assert api.watch_queries[-1]["resourceVersion"] == str(api.resource_version)
    assert api.lists == 1


def test_a_watch_ended_at_its_timeout_is_opened_again_from_where_it_stopped(
    cluster: tuple[NamespaceApi, str],
):
    api, url = cluster
    view = NamespaceView()
    watcher = NamespaceWatcher(view, core_api(url), watch_seconds=1, min_backoff=0.05)
    watcher.start()
    try:
        eventually(lambda: view.synced and api.watches >= 1, "listed and watching")
        api.label("ml", {"team": "vision"})
        eventually(lambda: api.watches >= 3, "two watches ended at their timeoutSeconds")
        api.label("ml", {"team": "platform"})
        eventually(lambda: (labels_of(view, "ml") or {}).get("team") == "platform", "the change")
    finally:
        watcher.stop()
    assert {q["timeoutSeconds"] for q in api.watch_queries} == {"1"}
    versions = [int(q["resourceVersion"]) for q in api.watch_queries]
    assert versions == sorted(versions) and versions[-1] >= versions[0] + 1
    assert api.lists == 1, "a watch that ended at its timeout resumes without a list"


def test_403_forbidden_leaves_the_view_unsynced_and_says_so(
    cluster: tuple[NamespaceApi, str], caplog: pytest.LogCaptureFixture
):
    """What a missing RBAC rule looks like: lists and watches answered 403."""
    api, url = cluster
    api.forbidden = True
    view = NamespaceView()
    watcher = NamespaceWatcher(view, core_api(url), watch_seconds=60, min_backoff=0.05)
    with caplog.at_level(logging.WARNING, logger="webhook.namespaces"):
        watcher.start()
        try:
            eventually(
                lambda: any("403" in r.getMessage() for r in caplog.records), "the 403 logged"
            )
            assert not view.synced
            labels, warning = view.lookup("ml")
            assert labels is None and warning is not None and "unknown" in warning
            api.forbidden = False  # the rule is granted
            eventually(lambda: view.synced, "synced once allowed")
            assert labels_of(view, "ml") == {"kubernetes.io/metadata.name": "ml", "team": "ml"}
        finally:
            watcher.stop()
    (logged,) = {r.getMessage().split(";")[0] for r in caplog.records if "403" in r.getMessage()}
    assert logged == "namespace view not synced: apiserver answered 403 Forbidden"


def test_410_gone_lists_again(watched: tuple[NamespaceApi, NamespaceView]):
    api, view = watched
    api.label("ml", {"team": "vision"})
    eventually(lambda: (labels_of(view, "ml") or {}).get("team") == "vision", "the change")
    api.compact()
    api.end_watches()  # the resumed watch asks for a resourceVersion that is gone
    eventually(lambda: api.lists == 2 and api.open_watches == 1, "listed again after 410")
    assert view.relists == 2
    assert view.synced
    assert labels_of(view, "ml") == {"kubernetes.io/metadata.name": "ml", "team": "vision"}


def test_unsynced_view_answers_unknown_with_a_warning(cluster: tuple[NamespaceApi, str]):
    api, url = cluster
    api.refuse_lists = True
    view = NamespaceView()
    assert view.lookup("ml") == (
        None,
        "pod-placement-webhook: namespace labels unknown (not yet listed): "
        "namespaceSelector policies skipped",
    )
    watcher = NamespaceWatcher(view, core_api(url), watch_seconds=60, min_backoff=0.05)
    watcher.start()
    try:
        eventually(lambda: view.problem == "watch broken", "the refused list is seen")
        labels, warning = view.lookup("ml")
        assert labels is None and warning is not None and "watch broken" in warning
        assert not view.synced
        api.refuse_lists = False
        eventually(lambda: view.synced, "synced once the apiserver answers")
        assert labels_of(view, "ml") == {"kubernetes.io/metadata.name": "ml", "team": "ml"}
        assert view.unknown_answers == 2
    finally:
        watcher.stop()
    assert not view.synced, "a stopped watcher must not keep answering from stale labels"


def test_warning_fits_the_recommended_length():
    view = NamespaceView()
    view.replace({}, "1")
    for problem in ("not yet listed", "watch broken", "namespace watcher stopped"):
        view.broken(problem)
        _, warning = view.lookup("ml")
        assert warning is not None and len(warning) <= 120
    view.replace({}, "1")
    _, warning = view.lookup("n" * 63)  # the longest namespace name
    assert warning is not None and len(warning) <= 120


def test_namespace_policy_applies_after_labelling_without_restart(tmp_path: Path):
    """The server, started with --namespace-labels-from-cluster against the stand-in: a policy
    on namespace labels starts applying once the Namespace is labelled, stops once the label
    goes (also across a dropped watch), and says so while the view is not synced."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "team.yaml").write_text(TEAM_POLICY)
    with namespace_apiserver() as (api, url):
        api.label("ml", {})
        api.refuse_lists = True
        env = {"KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", url))}
        args = ["--namespace-labels-from-cluster"]
        with running_server(tmp_path, [policies], args, env=env) as server, client(server) as http:

            def review() -> dict[str, object]:
                return response_of(send(http, pod_review(plain_pod(namespace="ml"), "ml")))

            answer = review()
            assert "patch" not in answer
            assert any("namespace labels unknown" in w for w in answer["warnings"])
            _, samples = scrape(server)
            assert value(samples, "placement_webhook_namespace_view_synced") == 0
            assert value(samples, "placement_webhook_namespace_labels_unknown_total") >= 1

            api.refuse_lists = False
            eventually(lambda: value(scrape(server)[1], "placement_webhook_namespace_view_synced")
                       == 1, "the server's view syncs")  # fmt: skip
            answer = review()
            assert "patch" not in answer and "warnings" not in answer, "ml has no team label yet"

            api.label("ml", {"team": "ml"})
            eventually(lambda: "patch" in review(), "the policy applies after labelling")
            assert "ml-team-pool" in review()["auditAnnotations"]["policies"]

            def unchanged_and_synced() -> bool:
                answer = review()
                return "patch" not in answer and "warnings" not in answer

            api.drop_watches()
            api.label("ml", {"team": "other"})
            eventually(unchanged_and_synced, "the label change, across a dropped watch")
            api.label("ml", {"team": "ml"})
            eventually(lambda: "patch" in review(), "labelled again: the new watch works")
            _, samples = scrape(server)
            assert value(samples, "placement_webhook_namespace_view_relists_total") >= 2
            assert value(samples, "placement_webhook_namespace_view_namespaces") == 1


def test_a_namespace_the_view_has_not_seen_is_read_once_directly(
    cluster: tuple[NamespaceApi, str], watched: tuple[NamespaceApi, NamespaceView]
):
    """Created a moment before its first pod: the watch event is still on the way."""
    api, view = watched
    view.fetch = reader(core_api(cluster[1]))
    api.label("fresh", {"team": "ml"}, unseen=True)
    assert labels_of(view, "fresh") == {"kubernetes.io/metadata.name": "fresh", "team": "ml"}
    assert labels_of(view, "fresh") is not None
    assert api.reads == ["fresh"], "the second review finds it in the view"
    assert (view.direct_reads, view.direct_read_failures, view.unknown_answers) == (1, 0, 0)


def test_a_direct_read_that_fails_or_is_slow_leaves_the_labels_unknown(
    cluster: tuple[NamespaceApi, str], watched: tuple[NamespaceApi, NamespaceView]
):
    api, view = watched
    view.fetch = reader(core_api(cluster[1]), seconds=0.2)
    api.label("slow", {"team": "ml"}, unseen=True)
    api.read_delay = 1.0
    labels, warning = view.lookup("slow")
    assert labels is None and warning is not None and "not readable" in warning
    api.read_delay = 0.0
    api.forbidden = True
    labels, _ = view.lookup("slow")
    assert labels is None
    assert (view.direct_reads, view.direct_read_failures, view.unknown_answers) == (2, 2, 2)


EXCLUDED_PROD = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: batch-but-prod
spec:
  match: {workloads: [job]}
  exclude:
    - namespaceSelector:
        matchLabels: {env: prod}
  add:
    nodeAffinity:
      required:
        - {key: pool, operator: In, values: [spot]}
"""


def test_a_policy_that_excludes_by_namespace_labels_is_skipped_while_they_are_unknown(
    tmp_path: Path,
):
    """The apiserver answers 403 to the watch and to the direct read (RBAC missing): the
    production namespace's labels are unknown, and the policy meant to leave it alone is
    skipped, never applied on a guess; a warning, a counter and its alert say so."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "batch.yaml").write_text(EXCLUDED_PROD)
    job = plain_pod(namespace="payments")
    job["metadata"]["ownerReferences"] = [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "1", "controller": True}
    ]
    with namespace_apiserver() as (api, url):
        api.label("payments", {"env": "prod"})
        api.forbidden = True
        env = {"KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", url))}
        args = ["--namespace-labels-from-cluster"]
        with running_server(tmp_path, [policies], args, env=env) as server, client(server) as http:
            answer = response_of(send(http, pod_review(job, "payments")))
            assert "patch" not in answer
            assert any("policies skipped: batch-but-prod" in w for w in answer["warnings"])
            _, samples = scrape(server)
            skipped = "placement_webhook_policy_skipped_total"
            assert value(samples, skipped, policy="batch-but-prod") == 1
            api.forbidden = False
            eventually(lambda: value(scrape(server)[1], "placement_webhook_namespace_view_synced")
                       == 1, "the server's view syncs")  # fmt: skip
            answer = response_of(send(http, pod_review(job, "payments")))
            assert "patch" not in answer and "warnings" not in answer, "excluded: prod"
            api.label("staging", {"env": "staging"}, unseen=True)
            answer = response_of(send(http, pod_review(job | {}, "staging")))
            assert "patch" in answer, "read directly, not excluded: the policy applies"
            assert api.reads[-1] == "staging"
