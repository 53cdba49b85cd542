"""Pods generated from the Kubernetes Pod schema, every field included, through the real app.

For each generated pod, as the apiserver would send it: HTTP 200 and allowed, with its own uid,
no internal-error warning and a patch (the every-mutation policy matches every pod); the patch
applies identically with kubectl (the apiserver's JSON Patch code) and with Python jsonpatch;
the result is a valid Pod; every field the user set is unchanged; a second pass
(reinvocation) adds nothing. The policies are the shipped set plus one that uses every
mutation, so every patch builder meets every shape of pod.

How many examples: `HYPOTHESIS_PROFILE=ci` (the default) runs 300 in process and 40 over real
TLS; the soak profile runs the profile's count (10,000) in process and a tenth of it over TLS:

    HYPOTHESIS_PROFILE=soak .venv/bin/pytest tests/test_fuzz.py tests/test_schemathesis.py -q
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kube import apply_both, validate_pod
from tests.pod_schema import pods
from tests.reviews import (
    SHIPPED,
    UID,
    AppClient,
    app_client,
    check_response,
    every_mutation_dir,
    kept,
    patch_of,
)
from tests.reviews import review as make_review
from tests.servers import running_server

PROFILE_EXAMPLES = settings.default.max_examples
IN_PROCESS = max(300, PROFILE_EXAMPLES)
OVER_TLS = max(40, PROFILE_EXAMPLES // 10)
# pytest-timeout's 300 s fits the CI counts; a soak run needs about a second per example.
TIMEOUT = pytest.mark.timeout(max(300, IN_PROCESS))
RELAXED = {
    "deadline": None,  # every example shells out to kubectl
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
}
NAMESPACES = st.sampled_from(["ml", "default", "kube-system", "argo", "ünïcode"])


def in_namespace(pod_and_namespace: tuple[dict[str, Any], str]) -> tuple[dict[str, Any], str]:
    """The apiserver fills metadata.namespace from the request (1.24+): never another one."""
    pod, namespace = pod_and_namespace
    metadata = pod.get("metadata")
    if isinstance(metadata, dict) and "namespace" in metadata:
        pod = {**pod, "metadata": {**metadata, "namespace": namespace}}
    return pod, namespace


PODS_IN_NAMESPACES = st.tuples(pods(), NAMESPACES).map(in_namespace)

Post = Callable[[dict[str, Any]], httpx.Response]
PROVENANCE = "pod-placement-webhook/policies"


def split_provenance(pod: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The pod without the webhook's provenance annotation, and that annotation's value."""
    metadata = pod.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or PROVENANCE not in annotations:
        return pod, None
    rest = {k: v for k, v in annotations.items() if k != PROVENANCE}
    value = annotations[PROVENANCE]
    return {**pod, "metadata": {**metadata, "annotations": rest}}, value


def has_null_in_a_list(value: Any) -> bool:
    if isinstance(value, list):
        return any(v is None or has_null_in_a_list(v) for v in value)
    if isinstance(value, dict):
        return any(has_null_in_a_list(v) for v in value.values())
    return False


def check_admitted(post: Post, pod: dict[str, Any], namespace: str) -> None:
    validate_pod(pod)  # the generator's promise; a failure here is a test bug, not a finding
    # A null where a list holds objects (a nodeSelectorTerm, say) fails the policy that would
    # add to it, which is then skipped (docs/reliability.md, bad input 25): only then may a
    # policy fail. The every-mutation policy otherwise matches every pod and adds annotations
    # no generated pod has, so there is always a patch.
    skips = has_null_in_a_list(pod)
    r = post(make_review(pod, namespace=namespace))
    assert r.status_code == 200, r.text
    answer = r.json()
    check_response(answer["response"], UID, patched=None if skips else True, policy_errors=skips)
    after = apply_both(pod, patch_of(answer))
    validate_pod(after)
    mine, theirs = split_provenance(pod), split_provenance(after)
    lost = kept(mine[0], theirs[0])
    assert lost is None, f"a field the user set changed: {lost}"
    # The webhook's own annotation is the one value it extends: the names already listed stay.
    listed = [n for n in (mine[1] or "").split(",") if n]
    assert (theirs[1] or "").split(",")[: len(listed)] == listed
    if not skips:
        assert "every-mutation" in (theirs[1] or "").split(","), theirs[1]
    again = post(make_review(after, namespace=namespace)).json()["response"]
    check_response(again, UID, patched=False, policy_errors=skips)


@pytest.fixture(scope="module")
def policy_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [SHIPPED, every_mutation_dir(tmp_path_factory.mktemp("fuzz-policies"))]


@pytest.fixture(scope="module")
def app(policy_dirs: list[Path]) -> Iterator[AppClient]:
    with app_client(policy_dirs) as client:
        yield client


@TIMEOUT
@settings(max_examples=IN_PROCESS, **RELAXED)  # type: ignore[arg-type]
@given(case=PODS_IN_NAMESPACES)
def test_generated_pods_through_the_app(app: AppClient, case: tuple[dict[str, Any], str]) -> None:
    pod, namespace = case
    check_admitted(lambda body: app.post("/mutate", json=body), pod, namespace)


@pytest.fixture(scope="module")
def tls_client(
    policy_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("fuzz-tls")
    with (
        running_server(tmp, policy_dirs) as server,
        httpx.Client(base_url=server.url, verify=server.ssl_context(), timeout=10) as c,
    ):
        yield c


@TIMEOUT
@settings(max_examples=OVER_TLS, **RELAXED)  # type: ignore[arg-type]
@given(case=PODS_IN_NAMESPACES)
def test_generated_pods_over_real_tls(
    tls_client: httpx.Client, case: tuple[dict[str, Any], str]
) -> None:
    pod, namespace = case
    check_admitted(lambda body: tls_client.post("/mutate?timeout=10s", json=body), pod, namespace)
