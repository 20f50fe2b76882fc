"""Naira amounts: Decimal in, Decimal out, never float; at most two decimals (kobo).

The one place that parses, converts and formats money. On the wire an amount is accepted as a
JSON number (the spec's examples) or a decimal string; it is answered as a JSON number, an
integer when whole ("5000000", as the spec shows), with an exact integer kobo companion and the
currency beside it, so that a client that reads JSON numbers as floats still has the exact value.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CURRENCY: Literal["NGN"] = "NGN"
KOBO = Decimal("0.01")
KOBO_PER_NAIRA = 100
# ASCII digits only: str.isdigit() and Decimal() also take "²" or "٥", which no bank means.
_DECIMAL_TEXT = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,2})?")
MAX_DIGITS = 18  # NUMERIC(20, 2) holds 18 digits before the point


class MoneyError(ValueError):
    pass


def parse_naira(
    value: object, *, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal:
    """A JSON number (int or Decimal) or a decimal string of ASCII digits; refuse floats, bools,
    exponents, signs and more than two decimals.

    A float here would mean someone parsed JSON without Decimal: refusing it catches that bug.
    """
    if isinstance(value, bool | float):
        raise MoneyError("must be an exact decimal amount")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise MoneyError("must be a decimal number such as 1000 or 1000.50")
        amount = Decimal(value)
    else:
        raise MoneyError("must be a number")
    if not amount.is_finite():
        raise MoneyError("must be a finite number")
    if amount <= 0:
        raise MoneyError("must be greater than zero")
    if amount.adjusted() >= MAX_DIGITS:
        raise MoneyError("is too large")
    if amount != amount.quantize(KOBO):
        raise MoneyError("must have at most two decimal places")
    if minimum is not None and amount < minimum:
        raise MoneyError(f"must be at least {as_text(minimum)}")
    if maximum is not None and amount > maximum:
        raise MoneyError(f"must be at most {as_text(maximum)}")
    return amount.quantize(KOBO)


def to_kobo(amount: Decimal) -> int:
    """Exact: refuses a fraction of a kobo and anything not finite. Integer arithmetic on the
    coefficient, not Decimal multiplication, which rounds at the context precision."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise MoneyError(f"amount is not a finite number: {amount}")
    sign, digits, exponent = amount.as_tuple()
    coefficient = int("".join(map(str, digits)))
    shift = int(exponent) + 2  # kobo = coefficient * 10**shift
    if shift >= 0:
        kobo = coefficient * _power_of_ten(shift)
    elif coefficient % _power_of_ten(-shift):
        raise MoneyError(f"amount has a fraction of a kobo: {amount}")
    else:
        kobo = coefficient // _power_of_ten(-shift)
    return -kobo if sign else kobo


def _power_of_ten(n: int) -> int:
    result: int = 10**n  # typeshed types int ** int as Any (a negative n would give a float)
    return result


def from_kobo(kobo: int) -> Decimal:
    return (Decimal(kobo) / KOBO_PER_NAIRA).quantize(KOBO)


def as_json_number(amount: Decimal) -> int | Decimal:
    """How an amount is written on the wire: an integer when whole, else the exact decimal."""
    return int(amount) if amount == amount.to_integral_value() else amount.quantize(KOBO)


def as_text(amount: Decimal) -> str:
    """'5000000' for whole Naira, '1234.50' otherwise: the same rule as `as_json_number`."""
    number = as_json_number(amount)
    return str(number) if isinstance(number, int) else f"{number:.2f}"


def _naira_input(value: Any) -> Decimal:
    try:
        return parse_naira(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None


NAIRA_INPUT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
        {"type": "string", "pattern": r"^[0-9]{1,18}(\.[0-9]{1,2})?$"},
    ],
    "description": "Naira: a JSON number or a decimal string, at most two decimals",
    "examples": [1000, "1000.50"],
}

# A request amount: number or decimal string in, Decimal out.
NairaIn = Annotated[Decimal, BeforeValidator(_naira_input), WithJsonSchema(NAIRA_INPUT_SCHEMA)]


class NairaField:
    """Marks a response field as money: the response model adds its kobo companion and the
    currency beside it (betfuz_common.models.ResponseModel)."""


# A response amount in Naira: an integer when whole, else exact. Its exact kobo companion
# (`<name>Kobo`) and the `currency` are added by ResponseModel, once for every money field.
NairaOut = Annotated[
    Decimal,
    PlainSerializer(as_json_number),
    WithJsonSchema({"type": "number", "description": "Naira; the exact value is in <name>Kobo"}),
    NairaField(),
]
