from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from topup.schemas import TopupRequest

GOOD: dict[str, Any] = {"phone": "+2348030000001", "carrier": "mtn", "amount": 1000, "type": "data"}
BOUNDS = {"amount_bounds": (Decimal(50), Decimal(50000))}


def parse(body: Any) -> TopupRequest:
    return TopupRequest.model_validate(body, context=BOUNDS)


def failed_fields(body: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse(body)
    return sorted(".".join(map(str, e["loc"])) for e in caught.value.errors())


def test_a_good_request_is_normalised() -> None:
    order = parse({**GOOD, "phone": "08030000001", "amount": Decimal("100.5")}).order()
    assert order.phone == "+2348030000001"
    assert order.amount == Decimal("100.50")
    assert order.canonical() == {
        "phone": "+2348030000001", "carrier": "mtn", "amount": "100.50", "type": "data",
    }  # fmt: skip


def test_the_amount_may_come_as_a_decimal_string() -> None:
    assert parse({**GOOD, "amount": "100.10"}).amount == Decimal("100.10")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "+14155550100"}, "phone"),
        ({"phone": "8030000001"}, "phone"),
        ({"phone": "+23401"}, "phone"),
        ({"phone": 2348030000001}, "phone"),
        ({"phone": None}, "phone"),
        ({"carrier": "MTN"}, "carrier"),
        ({"carrier": "etisalat"}, "carrier"),
        ({"type": "sms"}, "type"),
        ({"type": None}, "type"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": Decimal("100.001")}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"amount": "٥٠٠"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 49}, "amount"),
        ({"amount": 50001}, "amount"),
        ({"amount": None}, "amount"),
        ({"currency": "USD"}, "currency"),
    ],
)
def test_each_bad_field_is_refused_naming_that_field(change: dict[str, Any], field: str) -> None:
    body = {**GOOD, **change}
    if change.get(field, 0) is None:
        del body[field]
    assert failed_fields(body) == [field]


def test_every_bad_field_is_reported_at_once() -> None:
    fields = failed_fields({"phone": "x", "carrier": "x", "amount": "x", "type": "x"})
    assert fields == ["amount", "carrier", "phone", "type"]
