"""The upstream ExtendedResourceToleration admission plugin, row for row.

`plugin/pkg/admission/extendedresourcetoleration/admission_test.go` (TestAdmit) compares only
`spec.tolerations`, order included; so do these tests. Fixtures as upstream: `cpu` requests
cpu 2, `mem` memory 2048, `ek` example.com/device-ek 1, `do` example.com/device-do 2.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import (
    compiled,
    container,
    cpu,
    mem,
    mutated,
    pod,
    policy,
    requesting,
    toleration,
    tolerations_of,
)
from webhook.kube.resources import extended_resources, is_extended_resource_name

EK, DO = "example.com/device-ek", "example.com/device-do"


def ek() -> dict[str, Any]:
    return container("ek", requests={EK: "1"})


def do() -> dict[str, Any]:
    return container("do", requests={DO: "2"})


def plugin(**options: Any) -> Any:
    return compiled(policy("ert", {"extendedResourceTolerations": options}, order=0))


def exists(key: str, effect: str = "NoSchedule") -> dict[str, Any]:
    return toleration(key, "Exists", effect)


FOO_BAR = toleration("foo", "Equal", "NoSchedule", "bar")
EK_EQUAL_NOEXECUTE = toleration(EK, "Equal", "NoExecute", "foo")
WILDCARD = toleration(operator="Exists")

# (containers, initContainers, tolerations before, tolerations expected after)
UPSTREAM_TEST_ADMIT = {
    "empty pod spec gets nothing": ([], [], None, []),
    "cpu only gets nothing": ([cpu()], [], None, []),
    "memory in an init container only gets nothing": ([], [mem()], None, []),
    "extended resource in a container is tolerated": ([ek()], [], None, [exists(EK)]),
    "extended resource in an init container is tolerated": ([], [do()], None, [exists(DO)]),
    "existing toleration kept and the new one appended": (
        [cpu(), ek()],
        [],
        [FOO_BAR],
        [FOO_BAR, exists(EK)],
    ),
    "resources of containers and init containers sorted by name": (
        [mem(), ek()],
        [cpu(), do()],
        None,
        [exists(DO), exists(EK)],
    ),
    "an equal toleration already present is not duplicated": (
        [cpu(), mem(), ek()],
        [],
        [exists(EK)],
        [exists(EK)],
    ),
    "a toleration of another effect does not count": (
        [cpu(), mem(), ek()],
        [],
        [EK_EQUAL_NOEXECUTE],
        [EK_EQUAL_NOEXECUTE, exists(EK)],
    ),
    "a wildcard toleration does not count": (
        [cpu(), mem(), ek()],
        [],
        [WILDCARD],
        [WILDCARD, exists(EK)],
    ),
}


def _pod_with(containers: list[Any], init: list[Any], before: Any) -> dict[str, Any]:
    built = pod(init=init, tolerations=before)
    # Upstream's fixtures may have no containers at all; keep that shape.
    built["spec"]["containers"] = containers
    if not containers and not init:
        built["spec"] = {"containers": []}
    return built


@pytest.mark.parametrize(
    ("containers", "init", "before", "expected"),
    list(UPSTREAM_TEST_ADMIT.values()),
    ids=list(UPSTREAM_TEST_ADMIT),
)
def test_upstream_admit_table(
    containers: list[Any], init: list[Any], before: Any, expected: list[Any]
) -> None:
    _, after = mutated(plugin(), _pod_with(containers, init, before))
    assert tolerations_of(after) == expected


MORE_ROWS = {
    "a request of quantity zero is still tolerated (upstream ignores the quantity)": (
        pod(container(requests={EK: "0"})),
        [exists(EK)],
    ),
    "a limit without a request is seen (defaulting copies limits to requests)": (
        pod(container(limits={"nvidia.com/gpu": "1"})),
        [exists("nvidia.com/gpu")],
    ),
    "a sidecar init container is read like any init container": (
        pod(init=[container("proxy", requests={EK: "1"}, restartPolicy="Always")]),
        [exists(EK)],
    ),
    "a name requested by two containers is tolerated once": (
        pod(requesting(EK, name="a"), requesting(EK, name="b")),
        [exists(EK)],
    ),
    "ephemeral containers are not read": (
        pod(
            ephemeralContainers=[
                {"name": "debug", "image": "busybox", "resources": {"requests": {EK: "1"}}}
            ]
        ),
        [],
    ),
    "pod-level resources are not read": (pod(resources={"requests": {EK: "1"}}), []),
    "native and kubernetes.io names are not extended": (
        pod(requesting("cpu", "hugepages-2Mi", "deviceclass.resource.kubernetes.io/gpu")),
        [],
    ),
    "an empty operator is Equal, so that toleration does not count": (
        pod(ek(), tolerations=[{"key": EK, "operator": "", "effect": "NoSchedule"}]),
        [{"key": EK, "operator": "", "effect": "NoSchedule"}, exists(EK)],
    ),
    "Exists with an empty effect tolerates everything but is not an equal toleration": (
        pod(ek(), tolerations=[toleration(EK, "Exists")]),
        [toleration(EK, "Exists"), exists(EK)],
    ),
    "tolerationSeconds is not compared": (
        pod(ek(), tolerations=[{**exists(EK, "NoExecute"), "tolerationSeconds": 30}]),
        [{**exists(EK, "NoExecute"), "tolerationSeconds": 30}, exists(EK)],
    ),
    "several resources come out in ascending byte order": (
        pod(requesting("nvidia.com/gpu", "example.com/Z", "example.com/a", "amd.com/gpu")),
        [
            exists("amd.com/gpu"),
            exists("example.com/Z"),
            exists("example.com/a"),
            exists("nvidia.com/gpu"),
        ],
    ),
}


@pytest.mark.parametrize(("before", "expected"), list(MORE_ROWS.values()), ids=list(MORE_ROWS))
def test_upstream_edges(before: dict[str, Any], expected: list[Any]) -> None:
    _, after = mutated(plugin(), before)
    assert tolerations_of(after) == expected


OPTIONS = {
    "resources restricts the rule to the listed names": (
        {"resources": ["nvidia.com/gpu"]},
        pod(requesting("nvidia.com/gpu", EK)),
        [exists("nvidia.com/gpu")],
    ),
    "a listed resource the pod does not request adds nothing": (
        {"resources": ["nvidia.com/gpu"]},
        pod(ek()),
        [],
    ),
    "extraEffects adds the other effects after NoSchedule": (
        {"extraEffects": ["NoExecute", "PreferNoSchedule"]},
        pod(ek()),
        [exists(EK), exists(EK, "NoExecute"), exists(EK, "PreferNoSchedule")],
    ),
    "extraEffects skips an effect the pod already tolerates": (
        {"extraEffects": ["NoExecute"]},
        pod(ek(), tolerations=[exists(EK, "NoExecute")]),
        [exists(EK, "NoExecute"), exists(EK)],
    ),
}


@pytest.mark.parametrize(
    ("options", "before", "expected"), list(OPTIONS.values()), ids=list(OPTIONS)
)
def test_rule_options(options: dict[str, Any], before: dict[str, Any], expected: Any) -> None:
    _, after = mutated(plugin(**options), before)
    assert tolerations_of(after) == expected


EXTENDED_NAMES = {
    "nvidia.com/gpu": True,
    "example.com/device-ek": True,
    "example.com/GPU": True,
    "example.com/gpu_v2": True,
    "kubernetes.io.example.com/x": True,
    "a.b-c.example/" + "n" * 63: True,
    "d" * 244 + "/gpu": True,
    "cpu": False,
    "hugepages-1Gi": False,
    "foo": False,
    "kubernetes.io/foo": False,
    "node.kubernetes.io/foo": False,
    "mykubernetes.io/x": False,
    "deviceclass.resource.kubernetes.io/gpu": False,
    "requests.example.com/gpu": False,
    "Example.com/gpu": False,
    "a.b_c/gpu": False,
    "example.com/-gpu": False,
    "example.com/": False,
    "example.com/a/b": False,
    "/gpu": False,
    "example.com/" + "n" * 64: False,
    "d" * 245 + "/gpu": False,
    "-example.com/gpu": False,
    "example..com/gpu": False,
}


def _short(name: str) -> str:
    prefix, slash, part = name.partition("/")
    if len(prefix) > 40:
        prefix = f"<{len(prefix)}-character domain>"
    if len(part) > 40:
        part = f"<{len(part)}-character name>"
    return prefix + slash + part


@pytest.mark.parametrize(
    ("name", "extended"),
    list(EXTENDED_NAMES.items()),
    ids=[f"{_short(n)} is {'' if e else 'not '}extended" for n, e in EXTENDED_NAMES.items()],
)
def test_is_extended_resource_name(name: str, extended: bool) -> None:
    assert is_extended_resource_name(name) is extended


def test_extended_resources_are_distinct_and_sorted_by_bytes() -> None:
    names = ["nvidia.com/gpu", "cpu", "example.com/b", "example.com/B", "nvidia.com/gpu"]
    assert extended_resources(names) == ["example.com/B", "example.com/b", "nvidia.com/gpu"]


def test_placement_opt_outs_still_get_extended_resource_tolerations() -> None:
    """Like upstream, the rule applies to every pod: DaemonSet, bound, kube-system."""
    bound = pod(requesting("nvidia.com/gpu"), nodeName="gpu-node-1")
    _, after = mutated(plugin(), bound, namespace="kube-system")
    assert tolerations_of(after) == [exists("nvidia.com/gpu")]
