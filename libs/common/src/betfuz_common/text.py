"""What text we accept at the edge, decided once for every input: bodies, paths, queries, headers.

PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded as UTF-8 at all: either
would fail deep inside a transaction as a 500. Other control characters (C0, DEL, C1) are never
meant by a person or a bank in the fields we keep. All are refused where they enter.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator

# C0 controls (NUL included), DEL, C1 controls, and UTF-16 surrogates (lone ones survive JSON
# decoding as "\ud800" and cannot be encoded).
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class TextError(ValueError):
    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path  # where in a document: "narration", "items.0.name"


def forbidden_character(text: str) -> str | None:
    """A description of the first character we refuse in `text`, or None when it is clean."""
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X}"


def check_text(text: str) -> str:
    bad = forbidden_character(text)
    if bad is not None:
        raise TextError(f"contains a control character or a lone surrogate ({bad})")
    return text


def check_tree(value: Any, path: str = "") -> None:
    """Every string in a decoded JSON document, keys included; the error says where."""
    try:
        if isinstance(value, str):
            check_text(value)
            return
    except TextError as exc:
        raise TextError(str(exc), path or "body") from None
    if isinstance(value, dict):
        for key, item in value.items():
            check_tree(key, f"{path}.{key!r}" if path else "body")
            check_tree(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_tree(item, f"{path}.{index}" if path else str(index))


def _clean(value: str) -> str:
    try:
        return check_text(value)
    except TextError as exc:
        raise ValueError(str(exc)) from None


# A string field with the edge's rule applied (for models whose input did not come through
# the JSON reader, such as query and path parameters).
CleanStr = Annotated[str, AfterValidator(_clean)]
