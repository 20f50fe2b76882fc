"""The treasury service's OpenAPI document, served at /treasury/openapi.json."""

from __future__ import annotations

from typing import Any

from betfuz_common.openapi import document, json_content, problem
from treasury.schemas import NAME_MAX, NAME_PATTERN
from treasury.service import CURSOR_PATTERN

_MONEY = {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_NAME = {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": NAME_PATTERN}
_REFERENCE = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"

ACCOUNT = {
    "type": "object",
    "required": [
        "id", "accountNumber", "accountName", "bankName", "bankCode", "balance", "status", "bvn",
        "createdAt",
    ],
    "properties": {
        "id": {"type": "string"},
        "accountNumber": {"type": "string", "pattern": "^[0-9]{10}$"},
        "accountName": {"type": "string"},
        "bankName": {"type": "string", "examples": ["Wema Bank"]},
        "bankCode": {"type": "string", "examples": ["035"]},
        "balance": {"type": "number", "minimum": 0},
        "status": {"enum": ["active", "suspended", "closed"]},
        "bvn": {"type": "string", "pattern": "^\\*{7}[0-9]{4}$", "description": "masked"},
        "createdAt": {"type": "string", "format": "date-time"},
    },
}  # fmt: skip

CREATE_ACCOUNT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["bvn", "firstName", "lastName", "phoneNumber", "email"],
    "properties": {
        "bvn": {"type": "string", "pattern": "^[0-9]{11}$"},
        "firstName": _NAME,
        "lastName": _NAME,
        "phoneNumber": {
            "type": "string",
            "description": "Nigerian mobile, +234… or 0…; stored as E.164. The pattern covers "
            "the common prefixes; the server's libphonenumber check is authoritative.",
            "pattern": "^(\\+234|0)(70[13-9]|7[12][0-9]|80[1-9]|81[0-8]|90[1-9]|91[0-6])[0-9]{7}$",
            "examples": ["+2348012345678"],
        },
        "email": {"type": "string", "format": "email"},
    },
}

TRANSACTION = {
    "type": "object",
    "required": [
        "id", "type", "amount", "status", "transactionReference", "senderName", "senderAccount",
        "senderBank", "narration", "transactionDate", "createdAt",
    ],
    "properties": {
        "id": {"type": "string"},
        "type": {"enum": ["credit", "debit"]},
        "amount": _MONEY,
        "status": {"enum": ["completed", "reversed"]},
        "transactionReference": {"type": "string"},
        "senderName": _TEXT_OR_NULL,
        "senderAccount": _TEXT_OR_NULL,
        "senderBank": _TEXT_OR_NULL,
        "narration": _TEXT_OR_NULL,
        "transactionDate": {"type": "string", "format": "date-time"},
        "createdAt": {"type": "string", "format": "date-time"},
    },
}  # fmt: skip

TRANSACTION_PAGE = {
    "type": "object",
    "required": ["items", "nextCursor"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/BankTransaction"}},
        "nextCursor": {"type": ["string", "null"], "description": "opaque; null on the last page"},
    },
}

DEPOSIT_WEBHOOK = {
    "type": "object",
    "required": ["account_number", "amount", "transaction_reference", "transaction_date"],
    "properties": {
        "account_number": {"type": "string", "pattern": "^[0-9]{10}$"},
        "amount": {**_MONEY, "description": "Naira, at most two decimals (kobo)"},
        "transaction_reference": {"type": "string", "pattern": _REFERENCE},
        "sender_name": {**_TEXT_OR_NULL, "maxLength": 200},
        "sender_account": {**_TEXT_OR_NULL, "maxLength": 20},
        "sender_bank": {**_TEXT_OR_NULL, "maxLength": 100},
        "narration": {**_TEXT_OR_NULL, "maxLength": 1000},
        "transaction_date": {"type": "string", "format": "date-time", "description": "with offset"},
    },
}  # fmt: skip

WEBHOOK_ACK = {
    "type": "object",
    "required": ["status", "transactionReference"],
    "properties": {
        "status": {"enum": ["credited", "duplicate", "held_for_review"]},
        "transactionReference": {"type": "string"},
    },
}

_ACCOUNT_REF = {"$ref": "#/components/schemas/BankAccount"}
_AUTH = {"401": problem("Missing, expired or invalid bearer token")}

PATHS: dict[str, Any] = {
    "/treasury/accounts": {
        "post": {
            "summary": "Open the caller's Wema virtual account (one per user, BVN-linked)",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "replays the first answer for 24 h (visible ASCII)",
                    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CREATE_ACCOUNT}},
            },
            "responses": {
                "201": json_content(_ACCOUNT_REF, "Account opened"),
                "400": problem("Malformed JSON"),
                **_AUTH,
                "404": problem("The token's user does not exist"),
                "409": problem(
                    "Account exists (body.account holds it), creation in progress, BVN linked "
                    "to another user, or an Idempotency-Key still in flight"
                ),
                "413": problem("Body too large"),
                "415": problem("Not JSON"),
                "422": problem("Invalid fields, or the bank refused the details"),
                "502": problem("Wema failed; retrying is safe"),
                "504": problem("Wema timed out; retrying is safe and reuses the same reference"),
            },
        }
    },
    "/treasury/accounts/me": {
        "get": {
            "summary": "The caller's account with its balance and masked BVN",
            "responses": {
                "200": json_content(_ACCOUNT_REF),
                **_AUTH,
                "404": problem("No account yet"),
            },
        }
    },
    "/treasury/accounts/me/transactions": {
        "get": {
            "summary": "The caller's deposits, newest first",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "required": False,
                    "description": "nextCursor from the previous page, passed back unchanged",
                    "schema": {"type": "string", "pattern": CURSOR_PATTERN},
                },
            ],
            "responses": {
                "200": json_content({"$ref": "#/components/schemas/BankTransactionPage"}),
                **_AUTH,
                "404": problem("No account yet"),
                "422": problem("Bad limit or cursor"),
            },
        }
    },
    "/treasury/webhook": {
        "post": {
            "summary": "Wema deposit notification; credits exactly once per transaction_reference",
            "security": [],
            "parameters": [
                {
                    "name": "X-Wema-Signature",
                    "in": "header",
                    "required": True,
                    "description": "hex HMAC-SHA512 of the raw body under WEMA_SECRET_KEY",
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": DEPOSIT_WEBHOOK}},
            },
            "responses": {
                "200": json_content(
                    WEBHOOK_ACK, "Credited, a duplicate (nothing changed), or held for review"
                ),
                "400": problem("Malformed JSON"),
                "401": problem("Missing or invalid signature; nothing written"),
                "413": problem("Body too large"),
                "422": problem("Invalid fields, e.g. a non-positive amount; nothing written"),
            },
        }
    },
}

OPENAPI: dict[str, Any] = document(
    title="Betfuz treasury",
    prefix="/treasury",
    paths=PATHS,
    schemas={
        "BankAccount": ACCOUNT,
        "BankTransaction": TRANSACTION,
        "BankTransactionPage": TRANSACTION_PAGE,
    },
)
