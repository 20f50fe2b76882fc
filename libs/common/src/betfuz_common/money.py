"""Naira amounts: Decimal in, Decimal out, never float; at most two decimals (kobo)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

KOBO = Decimal("0.01")


class MoneyError(ValueError):
    pass


def parse_naira(
    value: object, *, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal:
    """Accept a JSON number (int or Decimal) or a numeric string; refuse floats and bools.

    A float here would mean someone parsed JSON without Decimal: refusing it catches that bug.
    """
    if isinstance(value, bool | float):
        raise MoneyError("must be an exact decimal amount")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError("must be a number") from None
    else:
        raise MoneyError("must be a number")
    if not amount.is_finite():
        raise MoneyError("must be a finite number")
    if amount <= 0:
        raise MoneyError("must be greater than zero")
    if amount.adjusted() > 15:
        raise MoneyError("is too large")
    if amount != amount.quantize(KOBO):
        raise MoneyError("must have at most two decimal places")
    if minimum is not None and amount < minimum:
        raise MoneyError(f"must be at least {minimum}")
    if maximum is not None and amount > maximum:
        raise MoneyError(f"must be at most {maximum}")
    return amount.quantize(KOBO)


def to_kobo(amount: Decimal) -> int:
    kobo = amount * 100
    if kobo != kobo.to_integral_value():
        raise MoneyError("amount has a fraction of a kobo")
    return int(kobo)


def from_kobo(kobo: int) -> Decimal:
    return (Decimal(kobo) / 100).quantize(KOBO)
