"""The ledger service's OpenAPI document, served at /ledger/openapi.json."""

from __future__ import annotations

from typing import Any

from betfuz_common.openapi import document

OPENAPI: dict[str, Any] = document(title="Betfuz ledger", prefix="/ledger", paths={})
