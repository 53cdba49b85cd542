"""The webhook app against its own OpenAPI description (/openapi.json), with schemathesis.

Bodies that fit the declared AdmissionReview schema must be answered 200 (positive data
acceptance) with a response that fits the declared response schema and no warning that the
webhook failed on the review; bodies that break it must
never get a 5xx; every response must match its documented status, content type and schema. The
handler reads raw bytes, so the request schema is declared in webhook/serving/openapi.py.

One default check is left out: "negative data rejection". The schema documents every field the
apiserver sends, but the webhook reads only those it needs and admits the rest whatever their
shape, on purpose: refusing a review over a field it ignores would turn an apiserver change
into failed pod creations. The fields it does read are refused when malformed (test_limits.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection

from tests.reviews import SHIPPED, internal_errors
from webhook.serving.app import create_webhook_app
from webhook.serving.serve import load_store

APP = create_webhook_app(load_store([SHIPPED]))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
EXAMPLES = max(200, settings.default.max_examples)


@SCHEMA.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    """A generated kind and resource are almost never `Pod` and `pods`, so the engine would
    never see a generated object: half the reviews that carry one (by the parity of their
    uid's length) are made a pod CREATE of it."""
    request = body.get("request") if isinstance(body, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("object"), dict):
        return body
    if len(str(request.get("uid"))) % 2:
        return body
    pod_create = {
        "operation": "CREATE",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "subResource": None,
    }
    return {**body, "request": {**request, **pod_create}}


def the_webhook_did_not_fail(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A 200 is not enough: a review the engine failed on is answered 200 too (the pod is
    admitted unchanged, with a warning), so the warnings must not say so."""
    if response.status_code != 200:
        return
    failed = internal_errors(response.json().get("response") or {})
    body = case.body if isinstance(case.body, dict) else {}
    request = body.get("request") if isinstance(body.get("request"), dict) else {}
    pod = request.get("object") if isinstance(request.get("object"), dict) else {}
    if any(not isinstance(pod.get(k, {}), dict) for k in ("metadata", "spec")):
        # A policy that cannot add to a spec or metadata of the wrong type is skipped, and
        # says so (docs/reliability.md, bad input 26); the review itself must not fail.
        failed = [w for w in failed if not w.startswith("policy ")]
    if failed:
        raise AssertionError(f"the webhook failed on the review: {failed}")


@SCHEMA.parametrize()
@pytest.mark.timeout(max(300, EXAMPLES // 10))  # the soak profile's 10,000 take minutes
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_app_keeps_to_its_openapi_description(case: schemathesis.Case) -> None:
    case.call_and_validate(
        excluded_checks=[negative_data_rejection], additional_checks=[the_webhook_did_not_fail]
    )


def test_the_openapi_description_declares_the_review_bodies() -> None:
    described = APP.openapi()["paths"]["/mutate"]["post"]
    body = described["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["apiVersion", "kind", "request"]
    assert set(described["responses"]) == {"200", "400", "408", "413"}
