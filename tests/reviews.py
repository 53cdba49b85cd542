"""AdmissionReview bodies as kube-apiserver sends them, and the in-process app to send them to.

`review(pod)` is a pod CREATE in admission.k8s.io/v1; keywords change what the hardening tests
vary (version, operation, subresource, kind). `app_client()` runs the real FastAPI app in
process (no socket): fast enough for thousands of hostile or generated reviews.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.pods import is_subdocument
from webhook.serving.app import create_webhook_app
from webhook.serving.serve import load_store

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "policies"
UID = "705ab4f5-6393-11e8-b7cc-42010a800002"

# One policy that uses every mutation on every pod: with the shipped set, any generated or
# hostile pod meets all the code that builds patches (escaping, whole-list vs append, maps).
EVERY_MUTATION = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: every-mutation}
spec:
  order: 1000
  add:
    extendedResourceTolerations: {extraEffects: [NoExecute]}
    tolerations:
      - {key: example.com/pool, operator: Equal, value: a, effect: NoSchedule}
    nodeAffinity:
      required:
        - {key: example.com/zone, operator: In, values: [a, b]}
      preferred:
        - weight: 5
          matchExpressions: [{key: example.com/disk, operator: Exists}]
    mirrorNodeSelector: true
    workflowPodAffinity:
      labelKeys: [workflows.argoproj.io/workflow, pipeline/runid]
      weight: 7
    dnsConfig:
      options: [{name: ndots, value: "2"}, {name: edns0}]
    annotations: {example.com/added: "yes", example.com/a.b: "~1"}
    labels: {example.com/pool: a}
"""


def every_mutation_dir(tmp: Path) -> Path:
    folder = tmp / "every-mutation"
    folder.mkdir(exist_ok=True)
    (folder / "every.yaml").write_text(EVERY_MUTATION)
    return folder


def review(
    obj: Any,
    *,
    version: str = "v1",
    operation: str = "CREATE",
    group: str = "",
    resource: str = "pods",
    sub_resource: str | None = None,
    kind: str = "Pod",
    namespace: str = "ml",
    uid: str = UID,
    old: Any = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "requestKind": {"group": group, "version": "v1", "kind": kind},
        "requestResource": {"group": group, "version": "v1", "resource": resource},
        "name": "",
        "namespace": namespace,
        "operation": operation,
        "userInfo": {
            "username": "system:serviceaccount:argo:argo",
            "groups": ["system:authenticated"],
        },
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }
    if sub_resource:
        request["subResource"] = request["requestSubResource"] = sub_resource
    return {
        "apiVersion": f"admission.k8s.io/{version}",
        "kind": "AdmissionReview",
        "request": request,
    }


def gpu_pod(name: str = "train", **labels: str) -> dict[str, Any]:
    """An Argo workflow step asking for a GPU: the shipped policies patch it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "labels": {"workflows.argoproj.io/workflow": "train-abc", **labels},
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Workflow",
                    "name": "train-abc",
                    "uid": "0f0e",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "trainer:1",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ]
        },
    }


def kept(original: Any, result: Any) -> str | None:
    """None when `result` keeps every value the user set in `original`, else where not.

    A null is "not set" (Kubernetes reads it so): it may become a value or disappear.
    """
    return is_subdocument(original, result, null_may_go=True)


# Every warning that says the webhook failed on a pod has these words: the review failed and
# the pod was admitted unchanged, or one policy failed and was skipped. test_outcomes.py shows
# both warnings carry them, so a check for them cannot pass by a change of wording.
INTERNAL_ERROR = "internal error"


def internal_errors(response: Mapping[str, Any]) -> list[str]:
    """The warnings of an AdmissionReview `response` that say the webhook failed on the pod."""
    return [w for w in response.get("warnings") or [] if INTERNAL_ERROR in w]


def check_response(
    response: Mapping[str, Any],
    uid: str = UID,
    patched: bool | None = True,
    policy_errors: bool = False,
) -> dict[str, Any]:
    """`response` (an AdmissionReview's) as a pod CREATE must be answered: its own uid,
    allowed, no internal error; a patch when `patched`, none when False, either when None.
    `policy_errors` lets a policy be skipped on an error (the pod is still answered)."""
    assert response["uid"] == uid, f"answered uid {response['uid']!r}, sent {uid!r}"
    assert response["allowed"] is True
    failed = internal_errors(response)
    if policy_errors:
        failed = [w for w in failed if "admitted unchanged" in w or not w.startswith("policy ")]
    assert not failed, f"the webhook failed on the pod: {failed}"
    if patched is not None:
        assert ("patch" in response) is patched, f"patch expected: {patched}; got {response}"
    return dict(response)


def patch_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    raw = answer["response"].get("patch")
    if raw is None:
        return []
    ops: list[dict[str, Any]] = json.loads(base64.b64decode(raw, validate=True))
    return ops


class AppClient:
    """A synchronous face on httpx's ASGI transport: one event loop for the client's life."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._loop = asyncio.new_event_loop()

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.post(path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.get(path, **kwargs))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


@contextmanager
def app_client(policies: Sequence[Path] = (SHIPPED,)) -> Iterator[AppClient]:
    """The webhook app in process, on `policies` (default: the shipped set)."""
    app = create_webhook_app(load_store(list(policies)))
    transport = httpx.ASGITransport(app=app)
    client = AppClient(httpx.AsyncClient(transport=transport, base_url="https://webhook.test"))
    try:
        yield client
    finally:
        client.close()
