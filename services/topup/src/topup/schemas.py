"""Request validation and response shapes. Each bad field gets its own error; nothing is guessed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from betfuz_common.errors import FieldError, validation_problem
from betfuz_common.money import MoneyError, parse_naira
from betfuz_common.phones import PhoneError, normalise_ng_mobile
from topup.config import CARRIERS, PRODUCT_TYPES

MAX_PAGE = 100
DEFAULT_PAGE = 20
_KEY_CHARS = frozenset(map(chr, range(0x21, 0x7F)))

MESSAGES = {
    "pending": "Topup initiated. You will receive confirmation within 5 minutes.",
    "completed": "Topup successful.",
    "failed": "Topup failed. Your wallet has been refunded.",
}


class Row(Protocol):
    """A database record or a plain mapping: anything read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True)
class TopupRequest:
    phone: str  # E.164
    carrier: str
    amount: Decimal
    product_type: str

    def canonical(self) -> dict[str, str]:
        """What identifies the purchase, in a form that does not depend on how it was typed."""
        return {
            "phone": self.phone,
            "carrier": self.carrier,
            "amount": format(self.amount, "f"),
            "type": self.product_type,
        }


def parse_topup_request(
    data: Mapping[str, Any], *, minimum: Decimal, maximum: Decimal
) -> TopupRequest:
    errors: list[FieldError] = []

    phone = data.get("phone")
    if not isinstance(phone, str):
        errors.append(FieldError("phone", "is required and must be a string"))
    else:
        try:
            phone = normalise_ng_mobile(phone)
        except PhoneError as exc:
            errors.append(FieldError("phone", str(exc)))

    carrier = data.get("carrier")
    if carrier not in CARRIERS:
        errors.append(FieldError("carrier", f"must be one of {', '.join(CARRIERS)}"))

    kind = data.get("type")
    if kind not in PRODUCT_TYPES:
        errors.append(FieldError("type", f"must be one of {', '.join(PRODUCT_TYPES)}"))

    raw_amount = data.get("amount")
    amount = Decimal(0)
    if isinstance(raw_amount, str) or raw_amount is None:
        errors.append(FieldError("amount", "is required and must be a number"))
    else:
        try:
            amount = parse_naira(raw_amount, minimum=minimum, maximum=maximum)
        except MoneyError as exc:
            errors.append(FieldError("amount", str(exc)))

    if errors:
        raise validation_problem(errors)
    assert isinstance(phone, str)
    assert isinstance(carrier, str)
    assert isinstance(kind, str)
    return TopupRequest(phone=phone, carrier=carrier, amount=amount, product_type=kind)


def parse_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or not set(value) <= _KEY_CHARS:
        raise validation_problem(
            [FieldError("Idempotency-Key", "must be 1-255 visible ASCII characters")]
        )
    return value


def topup_response(row: Row) -> dict[str, Any]:
    """POST /topup's answer, as the spec shows it."""
    return {
        "transactionId": row["id"],
        "status": row["status"],
        "reference": row["reference"],
        "message": MESSAGES[row["status"]],
    }


def topup_view(row: Row) -> dict[str, Any]:
    """One topup as GET shows it to its owner."""
    return {
        **topup_response(row),
        "phone": row["phone"],
        "carrier": row["carrier"],
        "amount": row["amount"],
        "type": row["type"],
        "externalReference": row["external_reference"],
        "errorMessage": row["error_message"],
        "createdAt": row["created_at"],
        "completedAt": row["completed_at"],
    }


_CURSOR = re.compile(r"^top_[0-9a-f]{24}$")


def parse_cursor(text: str | None) -> str | None:
    """The cursor is the id of the last item seen; opaque to clients, checked for shape only."""
    if text is None:
        return None
    if not _CURSOR.match(text):
        raise validation_problem([FieldError("cursor", "is not a cursor this API gave")])
    return text


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise validation_problem([FieldError("limit", f"must be an integer 1-{MAX_PAGE}")])
    return int(text)
