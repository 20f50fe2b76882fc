"""The ledger service's OpenAPI document, served at /ledger/openapi.json."""

from __future__ import annotations

from typing import Any

from betfuz_common.openapi import document, json_content, problem

STATUS = {"type": "string", "enum": ["pending", "submitted", "confirmed", "failed"]}
HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
TX_HASH = {"type": ["string", "null"], "pattern": "^0x[0-9a-f]{64}$"}
NAIRA = {
    "type": "number",
    "minimum": 0,
    "description": "Naira, exact: whole amounts as integers (5000000), else two decimals.",
}

ENTRY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "betSlipId",
        "betHash",
        "winAmount",
        "txHash",
        "blockNumber",
        "network",
        "status",
        "createdAt",
    ],
    "properties": {
        "betSlipId": {"type": "string"},
        "betHash": {**HEX64, "description": "SHA-256 of the bet slip id's UTF-8 bytes, hex"},
        "winAmount": NAIRA,
        "txHash": {**TX_HASH, "description": "The transaction that recorded it (when sent)"},
        "blockNumber": {"type": ["integer", "null"]},
        "network": {"type": "string", "examples": ["polygon-amoy"]},
        "status": STATUS,
        "createdAt": {"type": "string", "format": "date-time"},
    },
}

ENTRY_PAGE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["items", "nextCursor"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/LedgerEntry"}},
        "nextCursor": {
            "type": ["string", "null"],
            "description": "Pass as `cursor` for the next page; null on the last page.",
        },
    },
}

BOOL = {"type": "boolean"}
VERIFICATION: dict[str, Any] = {
    "type": "object",
    "required": ["betSlipId", "verified", "checks", "onChain", "database"],
    "properties": {
        "betSlipId": {"type": "string"},
        "verified": {**BOOL, "description": "Every check passed"},
        "checks": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "betHash",
                "recordedOnChain",
                "amount",
                "txHash",
                "blockNumber",
                "statusConfirmed",
            ],
            "properties": {
                "betHash": {**BOOL, "description": "The stored hash is SHA-256(betSlipId)"},
                "recordedOnChain": {**BOOL, "description": "The contract holds that hash"},
                "amount": {**BOOL, "description": "On-chain kobo equal the stored Naira x 100"},
                "txHash": {**BOOL, "description": "Its BetRecorded event is in the stored tx"},
                "blockNumber": {**BOOL, "description": "... and in the stored block"},
                "statusConfirmed": {**BOOL, "description": "The entry is `confirmed`"},
            },
        },
        "onChain": {
            "type": "object",
            "required": ["contractAddress", "betHash", "exists"],
            "properties": {
                "contractAddress": {"type": "string"},
                "betHash": HEX64,
                "exists": BOOL,
                "winAmount": NAIRA,
                "amountKobo": {"type": "integer"},
                "recordedAt": {"type": "string", "format": "date-time"},
                "recorder": {"type": "string"},
                "txHash": TX_HASH,
                "blockNumber": {"type": ["integer", "null"]},
            },
        },
        "database": {
            "type": "object",
            "required": [
                "betHash",
                "winAmount",
                "amountKobo",
                "txHash",
                "blockNumber",
                "network",
                "status",
            ],
            "properties": {
                "betHash": {"type": "string"},
                "winAmount": NAIRA,
                "amountKobo": {"type": "integer"},
                "txHash": TX_HASH,
                "blockNumber": {"type": ["integer", "null"]},
                "network": {"type": "string"},
                "status": STATUS,
            },
        },
    },
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


DATE_PARAMS = [
    _query(
        "from",
        "Entries created at or after: an ISO 8601 date (start of that UTC day) or date-time.",
        {"type": "string"},
    ),
    _query(
        "to",
        "Entries created before: a date-time, or a date meaning the end of that UTC day.",
        {"type": "string"},
    ),
]
BET_SLIP_ID = {"name": "betSlipId", "in": "path", "required": True, "schema": {"type": "string"}}
AUTH_ERRORS = {
    "401": problem("Missing, invalid or expired bearer token"),
    "403": problem("The token has neither the compliance nor the admin role"),
}

PATHS: dict[str, Any] = {
    "/ledger/entries": {
        "get": {
            "summary": "Ledger entries, newest first",
            "parameters": [
                _query("status", "Only entries in this status.", STATUS),
                *DATE_PARAMS,
                _query("cursor", "The previous page's nextCursor.", {"type": "string"}),
                _query(
                    "limit",
                    "Page size.",
                    {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                ),
            ],
            "responses": {
                "200": json_content({"$ref": "#/components/schemas/LedgerEntryPage"}),
                **AUTH_ERRORS,
                "422": problem("A bad filter, cursor or limit (each named in `errors`)"),
            },
        }
    },
    "/ledger/entries/{betSlipId}": {
        "get": {
            "summary": "The ledger entry of one bet slip",
            "parameters": [BET_SLIP_ID],
            "responses": {
                "200": json_content({"$ref": "#/components/schemas/LedgerEntry"}),
                **AUTH_ERRORS,
                "404": problem("No entry for this bet slip"),
            },
        }
    },
    "/ledger/export.csv": {
        "get": {
            "summary": "Confirmed entries as CSV, oldest first, streamed",
            "description": (
                "Columns: betSlipId,betHash,winAmount,txHash,blockNumber,timestamp (the entry's"
                " createdAt, UTC). Cells starting with = + - @ tab or CR get a leading"
                " apostrophe so spreadsheets do not run them."
            ),
            "parameters": DATE_PARAMS,
            "responses": {
                "200": {
                    "description": "CSV, UTF-8, header row first",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                **AUTH_ERRORS,
                "422": problem("A bad date"),
            },
        }
    },
    "/ledger/verify/{betSlipId}": {
        "get": {
            "summary": "Compare the entry with the chain's record, with the evidence",
            "parameters": [BET_SLIP_ID],
            "responses": {
                "200": json_content({"$ref": "#/components/schemas/LedgerVerification"}),
                **AUTH_ERRORS,
                "404": problem("No entry for this bet slip"),
                "502": problem("The chain node could not be read"),
                "503": problem("No contract is configured"),
            },
        }
    },
}

OPENAPI: dict[str, Any] = document(
    title="Betfuz ledger",
    prefix="/ledger",
    paths=PATHS,
    schemas={
        "LedgerEntry": ENTRY,
        "LedgerEntryPage": ENTRY_PAGE,
        "LedgerVerification": VERIFICATION,
    },
)
