"""Keyset pagination, one way for every list: the same limits, one opaque cursor format, and
pages that say `hasMore` beside `nextCursor`.

A cursor is the sort key of the last item a client has seen, versioned and base64url-encoded;
clients pass it back and never build one. Services page on keys (never OFFSET), so pages neither
skip nor repeat rows while new ones arrive.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, field_validator

from betfuz_common import jsonio
from betfuz_common.errors import FieldError, validation_problem
from betfuz_common.models import QueryModel, ResponseModel
from betfuz_common.parsing import ascii_int

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_VERSION = 1
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,512}$"

T = TypeVar("T")
K = TypeVar("K")
P = TypeVar("P", bound="Page[Any]")

# The bounds first, then the ASCII-digit parser: so the document publishes minimum/maximum.
Limit = Annotated[
    int, Field(ge=1, le=MAX_LIMIT, description="items per page"), BeforeValidator(ascii_int)
]
Cursor = Annotated[
    str, Field(pattern=CURSOR_PATTERN, description="`nextCursor` of the previous page (opaque)")
]


class PageQuery(QueryModel):
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None

    @field_validator("cursor")
    @classmethod
    def _issued_by_us(cls, cursor: str | None) -> str | None:
        # Checked with the other parameters, so every bad one is reported at once; the key's
        # own type is checked when the service asks for it (`after`).
        if cursor is not None:
            _key_of(cursor)
        return cursor

    def after(self, key_type: Any) -> Any:
        """The sort key the cursor carries, validated as `key_type`; None on the first page."""
        return None if self.cursor is None else decode_cursor(self.cursor, key_type)


class Page(ResponseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class Slice(Generic[T, K]):
    """A page in domain terms: the items and the key to continue after (None: the last page)."""

    items: list[T]
    next_key: K | None


def slice_of(rows: Sequence[T], limit: int, key_of: Callable[[T], K]) -> Slice[T, K]:
    """`rows` fetched with LIMIT limit + 1: the extra row says whether another page exists."""
    items = list(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Slice(items, key_of(items[-1]) if more else None)


def encode_cursor(key: Any) -> str:
    text = jsonio.dumps([_VERSION, TypeAdapter(Any).dump_python(key, mode="json")])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def _key_of(cursor: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, key = jsonio.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError("is not a cursor this API gave") from None
    if version != _VERSION:
        raise ValueError("is not a cursor this API gave")
    return key


def decode_cursor(cursor: str, key_type: Any) -> Any:
    try:
        key = TypeAdapter(key_type).validate_python(_key_of(cursor))
        if not _storable(key):
            raise ValueError("no row has this key")
    except (ValueError, ValidationError):
        raise validation_problem([FieldError("cursor", "is not a cursor this API gave")]) from None
    return key


def _storable(key: Any) -> bool:
    """Whether the key could be a row's: a BIGINT, a moment that exists in UTC. A crafted one
    (year 0 once in UTC, 2**63) would otherwise fail as a 500 when the query binds it."""
    if isinstance(key, tuple | list):
        return all(_storable(part) for part in key)
    if isinstance(key, int) and not isinstance(key, bool):
        return -(2**63) <= key < 2**63
    if isinstance(key, datetime) and key.tzinfo is not None:
        try:
            key.astimezone(UTC)
        except OverflowError:
            return False
    return True


def page_of(chunk: Slice[Any, Any], render: Callable[[Any], Any], page_type: type[P]) -> P:
    return page_type(
        items=[render(item) for item in chunk.items],
        next_cursor=None if chunk.next_key is None else encode_cursor(chunk.next_key),
        has_more=chunk.next_key is not None,
    )
