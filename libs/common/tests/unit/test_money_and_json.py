from decimal import Decimal

import pytest

from betfuz_common import jsonio
from betfuz_common.money import MoneyError, from_kobo, parse_naira, to_kobo


def test_json_numbers_parse_to_decimal_and_serialise_exactly() -> None:
    data = jsonio.loads(b'{"amount": 50000.50, "count": 3}')
    assert data == {"amount": Decimal("50000.50"), "count": 3}
    assert isinstance(data["amount"], Decimal)
    assert jsonio.dumps({"amount": Decimal("50000.50")}) == b'{"amount":50000.50}'


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'])
def test_json_refuses_non_finite_numbers(body: bytes) -> None:
    with pytest.raises(jsonio.JsonError):
        jsonio.loads(body)


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b'{"a": 1,}'])
def test_json_refuses_malformed_documents(body: bytes) -> None:
    with pytest.raises(jsonio.JsonError):
        jsonio.loads(body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1000, Decimal("1000.00")), (Decimal("50.5"), Decimal("50.50")), ("99.99", Decimal("99.99"))],
)
def test_parse_naira_accepts_exact_amounts(value: object, expected: Decimal) -> None:
    assert parse_naira(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        Decimal("0.001"),
        Decimal("NaN"),
        Decimal("Infinity"),
        10.5,
        True,
        None,
        "abc",
        [],
        "1e30",
    ],
)
def test_parse_naira_refuses_inexact_non_positive_and_non_numeric_values(value: object) -> None:
    with pytest.raises(MoneyError):
        parse_naira(value)


def test_parse_naira_enforces_bounds() -> None:
    with pytest.raises(MoneyError, match="at least 50"):
        parse_naira(10, minimum=Decimal(50))
    with pytest.raises(MoneyError, match="at most 100"):
        parse_naira(101, maximum=Decimal(100))


def test_kobo_conversion_is_exact_both_ways() -> None:
    assert to_kobo(Decimal("50000.50")) == 5_000_050
    assert from_kobo(5_000_050) == Decimal("50000.50")
    with pytest.raises(MoneyError):
        to_kobo(Decimal("0.005"))


@pytest.mark.parametrize(
    "body",
    [
        '{"amount": 1}'.encode("utf-16"),
        '{"amount": 1}'.encode("utf-32"),
        b"\xef\xbb\xbf{}",
        b'{"a": "\xff"}',
    ],
)
def test_json_bytes_must_be_utf8_without_a_byte_order_mark(body: bytes) -> None:
    with pytest.raises(jsonio.JsonError):
        jsonio.loads(body)
