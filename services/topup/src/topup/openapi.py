"""The topup service's OpenAPI document, served at /topup/openapi.json."""

from __future__ import annotations

from typing import Any

from betfuz_common.openapi import document

OPENAPI: dict[str, Any] = document(title="Betfuz topup", prefix="/topup", paths={})
