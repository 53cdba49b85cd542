"""The webhook app against its own OpenAPI description (/openapi.json), with schemathesis.

Bodies that fit the declared AdmissionReview schema must be answered 200 (positive data
acceptance) with a response that fits the declared response schema and no warning that the
webhook failed on the review; bodies that break it must
never get a 5xx; every response must match its documented status, content type and schema. The
handler reads raw bytes, so the request schema is declared in webhook/openapi.py.

One default check is left out: "negative data rejection". The schema documents every field the
apiserver sends, but the webhook reads only those it needs and admits the rest whatever their
shape, on purpose: refusing a review over a field it ignores would turn an apiserver change
into failed pod creations. The fields it does read are refused when malformed (test_limits.py).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection

from tests.reviews import SHIPPED, internal_errors
from webhook.server import PolicyStore, create_webhook_app

APP = create_webhook_app(PolicyStore([SHIPPED]))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
EXAMPLES = max(200, settings.default.max_examples)


def the_webhook_did_not_fail(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A 200 is not enough: a review the engine failed on is answered 200 too (the pod is
    admitted unchanged, with a warning), so the warnings must not say so."""
    if response.status_code != 200:
        return
    failed = internal_errors(response.json().get("response") or {})
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
