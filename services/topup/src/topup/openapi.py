"""The topup service's OpenAPI document, served at /topup/openapi.json. It describes what the
code does; the contract tests run against it."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from betfuz_common.openapi import document, json_content, problem

_MONEY = {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}
# Mobile ranges that phonenumbers accepts in full; the service validates with phonenumbers.
PHONE_PATTERN = r"^(\+234|0)(70[13-9]|80[1-9]|81[0-8]|90[1-9]|91[0-6])[0-9]{7}$"
CURSOR_PATTERN = r"^top_[0-9a-f]{24}$"
_STATUS = {"type": "string", "enum": ["pending", "completed", "failed"]}

TOPUP_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["phone", "carrier", "amount", "type"],
    "properties": {
        "phone": {
            "type": "string",
            "pattern": PHONE_PATTERN,
            "description": "Nigerian mobile number, +234… or 0…; stored as E.164",
            "examples": ["+2348030000001", "08030000001"],
        },
        "carrier": {"type": "string", "enum": ["mtn", "airtel", "glo", "9mobile"]},
        "amount": {
            **_MONEY,
            "description": "Naira, at most two decimals, within TOPUP_MIN_AMOUNT..TOPUP_MAX_AMOUNT",
        },
        "type": {"type": "string", "enum": ["airtime", "data"]},
    },
}

TOPUP_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["transactionId", "status", "reference", "message"],
    "properties": {
        "transactionId": {"type": "string"},
        "status": _STATUS,
        "reference": {"type": "string", "description": "Our reference, Selcom's transid"},
        "message": {"type": "string"},
    },
}

TOPUP: dict[str, Any] = {
    "type": "object",
    "required": [
        *TOPUP_RESPONSE["required"],
        "phone",
        "carrier",
        "amount",
        "type",
        "externalReference",
        "errorMessage",
        "createdAt",
        "completedAt",
    ],
    "properties": {
        **TOPUP_RESPONSE["properties"],
        "phone": {"type": "string"},
        "carrier": TOPUP_REQUEST["properties"]["carrier"],
        "amount": _MONEY,
        "type": TOPUP_REQUEST["properties"]["type"],
        "externalReference": {"type": ["string", "null"]},
        "errorMessage": {"type": ["string", "null"]},
        "createdAt": {"type": "string", "format": "date-time"},
        "completedAt": {"type": ["string", "null"], "format": "date-time"},
    },
}

TOPUP_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["items", "nextCursor"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Topup"}},
        "nextCursor": {"type": ["string", "null"]},
    },
}

WEBHOOK: dict[str, Any] = {
    "type": "object",
    "required": ["order_id", "status"],
    "properties": {
        "order_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "status": {"type": "string", "minLength": 1, "maxLength": 128},
        "reference_id": {"type": ["string", "null"]},
        "result_code": {"type": ["string", "null"]},
        "result_description": {"type": ["string", "null"]},
    },
}

WEBHOOK_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["received", "outcome"],
    "properties": {
        "received": {"const": True},
        "outcome": {
            "type": "string",
            "enum": ["applied", "duplicate", "contradicting", "unknown_reference", "noted"],
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_UNAUTHORIZED = problem("Missing or invalid bearer token")
_CLIENT_ERRORS = {
    "400": problem("Malformed JSON"),
    "401": _UNAUTHORIZED,
    "413": problem("Body too large"),
    "415": problem("Not application/json"),
    "422": problem("A field is invalid (each bad field is named), or Idempotency-Key reused"),
}

PATHS: dict[str, Any] = {
    "/topup": {
        "post": {
            "summary": "Buy airtime or data from the caller's wallet",
            "operationId": "createTopup",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": "Default: a hash of user+phone+carrier+amount+type",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("TopupRequest")}},
            },
            "responses": {
                "201": {
                    **json_content(_ref("TopupResponse"), "Created (a replay answers the same)"),
                    "headers": {
                        "Idempotent-Replayed": {
                            "schema": {"type": "string", "enum": ["true"]},
                            "description": "Present when this is the stored first response",
                        }
                    },
                },
                **_CLIENT_ERRORS,
                "402": problem("The wallet balance does not cover the amount"),
                "409": problem("The same Idempotency-Key is still in flight"),
            },
        },
        "get": {
            "summary": "The caller's topups, newest first",
            "operationId": "listTopups",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "schema": {"type": "string", "pattern": CURSOR_PATTERN},
                    "description": "nextCursor of the previous page (opaque)",
                },
            ],
            "responses": {
                "200": json_content(_ref("TopupPage")),
                "401": _UNAUTHORIZED,
                "422": problem("Bad limit or cursor"),
            },
        },
    },
    "/topup/{transactionId}": {
        "get": {
            "summary": "One of the caller's topups",
            "operationId": "getTopup",
            "parameters": [
                {
                    "name": "transactionId",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": json_content(_ref("Topup")),
                "401": _UNAUTHORIZED,
                "404": problem("No such topup for this caller"),
            },
        }
    },
    "/topup/webhook": {
        "post": {
            "summary": "Selcom's result callback (HMAC-SHA256 of the raw body)",
            "operationId": "selcomWebhook",
            "security": [],
            "parameters": [
                {
                    "name": "X-Selcom-Signature",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "hex (or base64) HMAC-SHA256 of the raw body",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("SelcomWebhook")}},
            },
            "responses": {
                "200": json_content(
                    _ref("WebhookAnswer"),
                    "Accepted; duplicates, contradictions and unknown references are recorded",
                ),
                "400": problem("Malformed JSON"),
                "401": problem("Missing or invalid signature; nothing was written"),
                "413": problem("Body too large"),
                "415": problem("Not application/json"),
                "422": problem("A required field is missing"),
            },
        }
    },
}


def build_openapi(minimum: Decimal, maximum: Decimal) -> dict[str, Any]:
    """The document, with the amount bounds this deployment is configured with."""
    request = copy.deepcopy(TOPUP_REQUEST)
    amount = request["properties"]["amount"]
    del amount["exclusiveMinimum"]
    amount["minimum"] = _number(minimum)
    amount["maximum"] = _number(maximum)
    return document(
        title="Betfuz topup",
        prefix="/topup",
        paths=PATHS,
        schemas={**SCHEMAS, "TopupRequest": request},
    )


def _number(value: Decimal) -> int | float:
    # JSON Schema bounds are plain numbers; a configured bound has at most two decimals.
    return int(value) if value == value.to_integral_value() else float(value)


SCHEMAS: dict[str, Any] = {
    "TopupRequest": TOPUP_REQUEST,
    "TopupResponse": TOPUP_RESPONSE,
    "Topup": TOPUP,
    "TopupPage": TOPUP_PAGE,
    "SelcomWebhook": WEBHOOK,
    "WebhookAnswer": WEBHOOK_ANSWER,
}
