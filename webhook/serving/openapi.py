"""The OpenAPI description of `POST /mutate`: JSON Schemas for the AdmissionReview that
`admission.parse_review` accepts and the one `admission.response_body` returns.

The handler reads raw bytes (no framework decoding on the hot path), so FastAPI cannot infer a
body schema: it is declared here instead. The request schema is kept no wider than what the
parser accepts, so that every body it describes gets a 200 (the API tests check exactly that),
and a review the apiserver could send is never outside it.
"""

from __future__ import annotations

from typing import Any

from webhook.serving.admission import API_VERSIONS

_GROUP_VERSION_KIND: dict[str, Any] = {
    "type": "object",
    "properties": {
        "group": {"type": "string"},
        "version": {"type": "string"},
        "kind": {"type": "string"},
    },
}
_GROUP_VERSION_RESOURCE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "group": {"type": "string"},
        "version": {"type": "string"},
        "resource": {"type": "string"},
    },
}
_OPTIONAL_STRING: dict[str, Any] = {"type": ["string", "null"]}

# A CREATE of core pods (no subresource) must carry the Pod: `parse_review` refuses it without.
_POD_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["operation", "resource", "kind"],
    "properties": {
        "operation": {"enum": ["CREATE"]},
        "resource": {
            "type": "object",
            "required": ["resource"],
            "properties": {"resource": {"enum": ["pods"]}, "group": {"enum": [""]}},
        },
        "kind": {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": ["Pod"]}}},
        "subResource": {"enum": ["", None]},
    },
}

ADMISSION_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "operation", "resource", "kind"],
    "properties": {
        "uid": {"type": "string", "minLength": 1, "description": "Copied into the response."},
        "operation": {
            "type": "string",
            "enum": ["CREATE", "UPDATE", "DELETE", "CONNECT"],
            "description": "Only CREATE of pods is mutated.",
        },
        "kind": _GROUP_VERSION_KIND,
        "resource": _GROUP_VERSION_RESOURCE,
        "subResource": _OPTIONAL_STRING,
        "requestKind": _GROUP_VERSION_KIND,
        "requestResource": _GROUP_VERSION_RESOURCE,
        "requestSubResource": _OPTIONAL_STRING,
        "name": _OPTIONAL_STRING,
        "namespace": _OPTIONAL_STRING,
        "userInfo": {"type": "object"},
        "object": {
            "type": ["object", "null"],
            "description": "The Pod at CREATE; null for DELETE.",
        },
        "oldObject": {"type": ["object", "null"]},
        "dryRun": {"type": "boolean"},
        "options": {"type": ["object", "null"]},
    },
    # A pod CREATE without its object is a 400: it is the only combination refused.
    "anyOf": [
        {"not": _POD_CREATE},
        {"required": ["object"], "properties": {"object": {"type": "object"}}},
    ],
}

ADMISSION_REVIEW_REQUEST: dict[str, Any] = {
    "title": "AdmissionReview (request)",
    "type": "object",
    "required": ["apiVersion", "kind", "request"],
    "properties": {
        "apiVersion": {"type": "string", "enum": list(API_VERSIONS)},
        "kind": {"type": "string", "enum": ["AdmissionReview"]},
        "request": ADMISSION_REQUEST,
    },
}

ADMISSION_REVIEW_RESPONSE: dict[str, Any] = {
    "title": "AdmissionReview (response)",
    "type": "object",
    "required": ["apiVersion", "kind", "response"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"type": "string", "enum": list(API_VERSIONS)},
        "kind": {"type": "string", "enum": ["AdmissionReview"]},
        "response": {
            "type": "object",
            "required": ["uid", "allowed"],
            "additionalProperties": False,
            "properties": {
                "uid": {"type": "string", "minLength": 1},
                "allowed": {"type": "boolean", "enum": [True]},
                "patchType": {"type": "string", "enum": ["JSONPatch"]},
                "patch": {
                    "type": "string",
                    "format": "byte",
                    "description": "RFC 6902 JSON Patch, standard base64 with padding.",
                },
                "warnings": {"type": "array", "items": {"type": "string"}},
                "auditAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What is wrong, in one line."}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


MUTATE_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ADMISSION_REVIEW_REQUEST}},
    },
}

MUTATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _json(ADMISSION_REVIEW_RESPONSE, "The review, answered: always allowed, maybe patched."),
    400: _json(ERROR, "The body is not a well-formed AdmissionReview."),
    408: _json(ERROR, "The body did not arrive within the read deadline."),
    413: _json(ERROR, "The body is larger than 3 MiB."),
}
