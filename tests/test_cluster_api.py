"""`--cluster`: `pools`, `check` and `preview` read the API with the official `kubernetes`
client, here against a loopback stand-in of kube-apiserver serving recorded Lists
(tests/apiserver_lists.py): paginated with `limit` and `continue`, never held whole; a missing
permission (403), refused credentials (401), a dropped connection and an unreachable API are
one line each. Read-only: every request is a `list` the documented ClusterRole grants."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.apiserver_lists import ListApi, list_apiserver
from tests.apiserver_standin import write_kubeconfig
from tests.cloud_nodes import eks_cluster, karpenter_cluster, node_list
from tests.live_pods import dump, golden_pods
from tests.pods import SHIPPED_POLICIES
from webhook.tools.cli import main
from webhook.tools.cluster.api import PODS, Cluster

REPO = Path(__file__).resolve().parent.parent
RBAC = REPO / "docs" / "examples" / "cluster-reader-rbac.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def namespaces(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = sorted({p["metadata"]["namespace"] for p in pods})
    return [{"metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}} for n in names]


@pytest.fixture
def api() -> ListApi:
    nodes, nodepools = karpenter_cluster()
    api = ListApi(karpenter=True)
    api.serve("nodes", [*nodes, *eks_cluster()])
    api.serve("nodepools", nodepools)
    pods = dump(golden_pods())["items"]
    api.serve("pods", pods)
    api.serve("namespaces", namespaces(pods))
    return api


@pytest.fixture
def kubeconfig(api: ListApi, tmp_path: Path) -> Iterator[str]:
    with list_apiserver(api) as url:
        yield str(write_kubeconfig(tmp_path / "kubeconfig", url))


def test_pools_from_the_cluster_equal_pools_from_its_dump(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, api: ListApi, kubeconfig: str
) -> None:
    code, from_api, err = run(capsys, "pools", "--cluster", "--kubeconfig", kubeconfig,
                              "--chunk-size", "4")  # fmt: skip
    assert code == 0, err
    nodes, nodepools = karpenter_cluster()
    (tmp_path / "dump.json").write_text(json.dumps(node_list([*nodes, *eks_cluster()], *nodepools)))
    _, from_dump, _ = run(capsys, "pools", str(tmp_path / "dump.json"))
    assert from_api.splitlines()[1:] == from_dump.splitlines()[1:]  # the header names the source
    pages = [q for path, q in api.requests if path == "/api/v1/nodes"]
    assert [q.get("limit") for q in pages] == ["4"] * 5  # 17 nodes, 4 a page
    assert [bool(q.get("continue")) for q in pages] == [False, True, True, True, True]


def test_preview_of_the_cluster_equals_the_preview_of_its_dump(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, api: ListApi, kubeconfig: str
) -> None:
    code, from_api, err = run(capsys, "preview", "--cluster", "--kubeconfig", kubeconfig,
                              "--chunk-size", "7", "--wide")  # fmt: skip
    assert code == 0, err
    (tmp_path / "pods.json").write_text(json.dumps(dump(golden_pods()), indent=4))
    _, from_dump, _ = run(capsys, "preview", "--wide", str(tmp_path / "pods.json"))
    assert from_api == from_dump
    pages = [q for path, q in api.requests if path == "/api/v1/pods"]
    assert len(pages) == 5 and {q["limit"] for q in pages} == {"7"}
    assert any(path == "/api/v1/namespaces" for path, _ in api.requests)


def test_check_against_the_cluster(
    capsys: pytest.CaptureFixture[str], api: ListApi, kubeconfig: str
) -> None:
    code, out, err = run(capsys, "check", str(SHIPPED_POLICIES / "examples" / "eks"),
                         "--cluster", "--kubeconfig", kubeconfig, "--drift", "warn")  # fmt: skip
    assert code == 0, err
    assert "17 nodes and 2 Karpenter NodePools compared with 6 node pools: " in out
    assert "warning: drift: node ip-10-0-0-5.ec2.internal" in err


def test_without_the_karpenter_crd_nodes_alone_are_read(
    capsys: pytest.CaptureFixture[str], api: ListApi, kubeconfig: str
) -> None:
    api.karpenter = False
    code, out, err = run(capsys, "pools", "--cluster", "--kubeconfig", kubeconfig)
    assert code == 0, err
    assert "# Node pools read from 17 nodes by" in out
    assert not any(path.endswith("/nodepools") for path, _ in api.requests)


def test_the_list_is_read_a_page_at_a_time(api: ListApi, kubeconfig: str) -> None:
    """The first pod is handed on before the second page is asked for."""
    cluster = Cluster.connect(kubeconfig, None, chunk_size=10)
    pods = cluster.list(PODS)
    first = next(pods)
    assert first["kind"] == "Pod"  # the API's items carry none: the list's kind is theirs
    assert len([p for p, _ in api.requests if p == "/api/v1/pods"]) == 1
    assert len(list(pods)) == 32


@pytest.mark.parametrize(
    ("argv", "plural", "group"),
    [
        (["preview", "--cluster"], "pods", ""),
        (["preview", "--cluster"], "namespaces", ""),
        (["pools", "--cluster"], "nodes", ""),
        (["pools", "--cluster"], "nodepools", "karpenter.sh"),
    ],
)
def test_a_missing_permission_names_the_verb_and_resource_to_grant(
    capsys: pytest.CaptureFixture[str],
    api: ListApi,
    kubeconfig: str,
    argv: list[str],
    plural: str,
    group: str,
) -> None:
    api.forbidden.add(plural)
    code, out, err = run(capsys, *argv, "--kubeconfig", kubeconfig)
    assert (code, out) == (1, "")
    resource = f"{plural}.{group}" if group else plural
    scope = "in all namespaces" if plural == "pods" else "at cluster scope"
    assert err == (
        f"error: not allowed to list {resource} (403 Forbidden): grant the verb 'list' on "
        f'"{plural}" in API group "{group}" {scope} (docs/install.md, RBAC for --cluster); '
        f'the API says: {plural} is forbidden: User "jane@example.com" cannot list resource '
        f'"{plural}" in API group "{group}" at the cluster scope\n'
    )


def test_refused_credentials(
    capsys: pytest.CaptureFixture[str], api: ListApi, kubeconfig: str
) -> None:
    api.unauthorized = True
    code, _, err = run(capsys, "check", str(SHIPPED_POLICIES), "--cluster", "--kubeconfig",
                       kubeconfig)  # fmt: skip
    assert code == 1
    assert err.endswith(
        "refused the credentials (401 Unauthorized): renew the token or certificate of the "
        "kubeconfig's user\n"
    )
    assert len(err.splitlines()) == 1


def test_a_connection_dropped_in_the_middle_of_a_page(
    capsys: pytest.CaptureFixture[str], api: ListApi, kubeconfig: str
) -> None:
    api.drop_page["pods"] = 2
    code, out, err = run(capsys, "preview", "--cluster", "--kubeconfig", kubeconfig,
                         "--chunk-size", "5")  # fmt: skip
    assert (code, out) == (1, "")
    assert err.startswith("error: cannot read pods from the API at http://127.0.0.1:")
    assert ": Connection broken: IncompleteRead(" in err
    assert err.endswith(" more expected) (is the cluster reachable from here?)\n")
    assert len(err.splitlines()) == 1


def test_an_unreachable_api(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    code, out, err = run(capsys, "pools", "--cluster", "--kubeconfig", str(kubeconfig))
    assert (code, out) == (1, "")
    assert err == (
        f"error: cannot read nodes from the API at http://127.0.0.1:{port}: Failed to establish "
        "a new connection: [Errno 111] Connection refused (is the cluster reachable from here?)\n"
    )


def test_no_kubeconfig(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "pools", "--cluster", "--kubeconfig", str(tmp_path / "none"))
    assert code == 1
    assert err.startswith("error: no Kubernetes configuration to connect with: ")
    assert err.endswith("(give --kubeconfig, set KUBECONFIG, or run in a pod)\n")


def test_every_request_is_a_list_the_documented_role_grants(
    capsys: pytest.CaptureFixture[str], api: ListApi, kubeconfig: str
) -> None:
    """The ClusterRole docs/install.md ships grants `list` on what the commands read, and
    nothing more; discovery needs no grant (every authenticated user may read it)."""
    for argv in (["pools"], ["preview"], ["check", str(SHIPPED_POLICIES), "--drift", "warn"]):
        code, _, err = run(capsys, *argv, "--cluster", "--kubeconfig", kubeconfig)
        assert code == 0, err
    role = next(d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    asked = set()
    for path, _ in api.requests:
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            asked.add(("", parts[2], "list"))
        elif len(parts) == 4:
            asked.add((parts[1], parts[3], "list"))
    assert asked == granted
