"""JSON with exact money: numbers parse to Decimal/int, Decimals serialise as exact literals."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson


class JsonError(ValueError):
    """The bytes are not a JSON document we accept."""


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a number")


def loads(body: bytes | str) -> Any:
    """Parse JSON; every non-integer number becomes a Decimal, NaN/Infinity are refused."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, JsonError):
            raise
        raise JsonError(f"malformed JSON: {exc}") from None


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise TypeError("non-finite Decimal")
        # A Decimal is written as the literal it holds: 50000.50 stays 50000.50, never a float.
        return orjson.Fragment(format(obj, "f").encode())
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
