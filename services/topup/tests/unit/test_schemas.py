from decimal import Decimal
from typing import Any

import pytest

from betfuz_common.errors import Problem
from topup.schemas import (
    parse_cursor,
    parse_idempotency_key,
    parse_limit,
    parse_topup_request,
)

GOOD: dict[str, Any] = {"phone": "+2348030000001", "carrier": "mtn", "amount": 1000, "type": "data"}


def parse(body: Any) -> Any:
    return parse_topup_request(body, minimum=Decimal(50), maximum=Decimal(50000))


def test_a_good_request_is_normalised() -> None:
    order = parse({**GOOD, "phone": "08030000001", "amount": Decimal("100.5")})
    assert order.phone == "+2348030000001"
    assert order.amount == Decimal("100.50")
    assert order.canonical() == {
        "phone": "+2348030000001", "carrier": "mtn", "amount": "100.50", "type": "data",
    }  # fmt: skip


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
        ({"amount": "1000"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 49}, "amount"),
        ({"amount": 50001}, "amount"),
        ({"amount": None}, "amount"),
    ],
)
def test_each_bad_field_is_a_422_naming_that_field(change: dict[str, Any], field: str) -> None:
    body = {**GOOD, **change}
    if change.get(field, 0) is None:
        del body[field]
    with pytest.raises(Problem) as caught:
        parse(body)
    assert caught.value.status == 422
    assert [err.field for err in caught.value.errors] == [field]


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(Problem) as caught:
        parse({"phone": "x", "carrier": "x", "amount": "x", "type": "x"})
    assert sorted(err.field for err in caught.value.errors) == [
        "amount",
        "carrier",
        "phone",
        "type",
    ]


def test_a_cursor_must_look_like_one_this_api_gives() -> None:
    assert parse_cursor("top_" + "ab" * 12) == "top_" + "ab" * 12
    assert parse_cursor(None) is None
    for forged in ("nope", "top_", "top_" + "AB" * 12, "' OR 1=1 --"):
        with pytest.raises(Problem) as caught:
            parse_cursor(forged)
        assert caught.value.errors[0].field == "cursor"


@pytest.mark.parametrize("text", ["0", "101", "-1", "ten", ""])
def test_a_bad_limit_is_422(text: str) -> None:
    with pytest.raises(Problem):
        parse_limit(text)


def test_limit_defaults_to_twenty() -> None:
    assert parse_limit(None) == 20


@pytest.mark.parametrize("key", ["", "a" * 256, "has space", "naïve"])
def test_a_bad_idempotency_key_is_422(key: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_idempotency_key(key)
    assert caught.value.errors[0].field == "Idempotency-Key"
