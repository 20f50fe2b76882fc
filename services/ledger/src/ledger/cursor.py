"""Opaque page cursors: clients pass back what they were given and never build one."""

from __future__ import annotations

import base64
import binascii

_PREFIX = "le1:"  # a version, so the format can change without misreading old cursors


class CursorError(ValueError):
    pass


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise CursorError("cursor is not one this API issued") from None
    if not text.startswith(_PREFIX) or not text[len(_PREFIX) :].isdigit():
        raise CursorError("cursor is not one this API issued")
    value = int(text[len(_PREFIX) :])
    if not 0 < value < 2**63:
        raise CursorError("cursor is not one this API issued")
    return value
