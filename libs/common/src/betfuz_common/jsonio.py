"""JSON with exact money: numbers parse to Decimal/int, Decimals serialise as exact literals.

Reading is strict where a lenient parser would silently pick one meaning: a key given twice
(which value is the amount?), NaN/Infinity, control characters and lone surrogates in strings.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from betfuz_common.text import TextError, check_tree


class JsonError(ValueError):
    """The bytes are not a JSON document we accept."""


class RefusedText(JsonError):
    """Well-formed JSON holding a string we refuse; `path` names it."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise JsonError(f"the key {key!r} appears twice")
        obj[key] = value
    return obj


def loads(body: bytes | str) -> Any:
    """Parse JSON; every non-integer number becomes a Decimal; refuse what is ambiguous.

    Bytes must be UTF-8 without a byte-order mark (RFC 8259 §8.1): json.loads would otherwise
    guess UTF-16 or UTF-32 and read a body no one on our side meant to accept.
    """
    if isinstance(body, bytes | bytearray):
        if body.startswith(b"\xef\xbb\xbf"):
            raise JsonError("a byte-order mark is not JSON text: send UTF-8 without one")
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonError("JSON text must be UTF-8") from None
    try:
        value = json.loads(
            body,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_object,
        )
        check_tree(value)
        return value
    except TextError as exc:
        raise RefusedText(str(exc), exc.path) from None
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
