"""What the sandbox's test endpoints accept: every bad field named in one 400 answer, never a
500. The limits are the sandbox's own (bursts tests need), not the bank's."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

ACCOUNT_NUMBER = re.compile(r"^[0-9]{10}$")
REFERENCE = re.compile(r"^[\x21-\x7e]{1,100}$")
MAX_AMOUNT = Decimal("1000000000000")
LIMITS = {"duplicates": 10_000, "deposits": 10_000, "concurrency": 2_000, "times": 1_000}
TEXT_FIELDS = ("sender_name", "sender_account", "sender_bank", "narration")
FAIL_MODES = ("timeout", "error", "reject")
LISTING_FAIL_MODES = ("timeout", "error", "garbage")


class OrderError(ValueError):
    """The order cannot be carried out; `problems` says why, one entry per field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_amount(value: Any) -> Decimal | None:
    """Naira: a positive number (or numeric string) with at most two decimals."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        return None
    if amount != amount.quantize(Decimal("0.01")):
        return None
    return amount


def is_account_number(value: Any) -> bool:
    return isinstance(value, str) and ACCOUNT_NUMBER.fullmatch(value) is not None


def _whole(order: dict[str, Any], name: str, problems: list[str]) -> None:
    if name not in order:
        return
    value = order[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMITS[name]:
        problems.append(f"{name} must be a whole number from 1 to {LIMITS[name]}")


def deposit_order(order: Any) -> dict[str, Any]:
    """The deposits order, with `amount` as a Decimal; OrderError lists what is wrong."""
    if not isinstance(order, dict):
        raise OrderError(["expected a JSON object"])
    problems: list[str] = []
    if not is_account_number(order.get("account_number")):
        problems.append("account_number must be the 10-digit account number, as a string")
    amount = parse_amount(order.get("amount"))
    if amount is None:
        problems.append("amount must be a positive naira amount with at most 2 decimals, e.g. 5000")
    for name in ("duplicates", "deposits", "concurrency"):
        _whole(order, name, problems)
    reference = order.get("reference")
    if reference is not None and (not isinstance(reference, str) or not REFERENCE.match(reference)):
        problems.append("reference must be 1-100 visible ASCII characters")
    for name in ("out_of_order", "bad_signature", "notify"):
        if name in order and not isinstance(order[name], bool):
            problems.append(f"{name} must be true or false")
    for name in TEXT_FIELDS:
        if name in order and not (isinstance(order[name], str) and len(order[name]) <= 200):
            problems.append(f"{name} must be a string of at most 200 characters")
    if problems:
        raise OrderError(problems)
    return {**order, "amount": amount}


def fail_order(order: Any, modes: tuple[str, ...] = FAIL_MODES) -> tuple[str, float, int]:
    """(mode, delay_seconds, times) for /_sandbox/fail-next and /_sandbox/listing-fail-next."""
    if not isinstance(order, dict):
        raise OrderError(["expected a JSON object"])
    problems: list[str] = []
    mode = order.get("mode")
    if mode not in modes:
        problems.append(f"mode must be one of {', '.join(modes)}")
    delay = order.get("delay_seconds", 5)
    if isinstance(delay, bool) or not isinstance(delay, int | Decimal) or not 0 <= delay <= 120:
        problems.append("delay_seconds must be a number from 0 to 120")
    _whole(order, "times", problems)
    if problems:
        raise OrderError(problems)
    return str(mode), float(delay), int(order.get("times", 1))
