from decimal import Decimal
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from betfuz_common import jsonio
from betfuz_common.errors import Problem
from betfuz_common.parsing import json_object, validated
from services.treasury.tests.support import days_ago
from treasury.schemas import CreateAccountRequest, DepositNotification

DepositWebhook = DepositNotification
M = TypeVar("M", bound=BaseModel)


def parse_model(body: bytes, model: type[M]) -> M:
    return validated(model, json_object(body))


GOOD: dict[str, Any] = {
    "bvn": "22222222222",
    "firstName": "John",
    "lastName": "Doe",
    "phoneNumber": "+2348012345678",
    "email": "john@example.com",
}


def failed_fields(body: dict[str, Any], model: type[Any]) -> set[str]:
    with pytest.raises(Problem) as caught:
        parse_model(jsonio.dumps(body), model)
    assert caught.value.status == 422
    return {err.field for err in caught.value.errors}


def test_a_good_request_is_accepted_and_the_phone_normalised() -> None:
    parsed = parse_model(jsonio.dumps({**GOOD, "phoneNumber": "08012345678"}), CreateAccountRequest)
    assert parsed.phone_number == "+2348012345678"
    assert parsed.first_name == "John"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bvn": "2222222222"}, "bvn"),
        ({"bvn": "222222222222"}, "bvn"),
        ({"bvn": "2222222222a"}, "bvn"),
        ({"bvn": 22222222222}, "bvn"),
        ({"firstName": ""}, "firstName"),
        ({"firstName": "   "}, "firstName"),
        ({"firstName": "J0hn"}, "firstName"),
        ({"lastName": "Doe!"}, "lastName"),
        ({"lastName": "<script>"}, "lastName"),
        ({"lastName": "-Doe"}, "lastName"),
        ({"lastName": "Doe\n"}, "lastName"),
        ({"lastName": " Doe"}, "lastName"),
        ({"lastName": "Mary  Jane"}, "lastName"),
        ({"lastName": "D" * 65}, "lastName"),
        ({"bvn": "22222222222\n"}, "bvn"),
        ({"phoneNumber": "+14155552671"}, "phoneNumber"),
        ({"phoneNumber": "0801"}, "phoneNumber"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
    ],
)
def test_each_bad_field_is_named_in_the_422(change: dict[str, Any], field: str) -> None:
    assert failed_fields({**GOOD, **change}, CreateAccountRequest) == {field}


def test_missing_and_unknown_fields_are_named() -> None:
    body = {k: v for k, v in GOOD.items() if k != "email"} | {"extra": 1}
    assert failed_fields(body, CreateAccountRequest) == {"email", "extra"}


@pytest.mark.parametrize(
    "name", ["O'Neil", "Adé-Báyọ̀", "Mary Jane", "Chukwuemeka", "Ɓello", "Jean-Pierre O’Neil"]
)
def test_names_with_accents_hyphens_apostrophes_and_spaces_are_accepted(name: str) -> None:
    parse_model(jsonio.dumps({**GOOD, "lastName": name}), CreateAccountRequest)


def test_a_bad_bvn_is_not_echoed_in_the_error() -> None:
    with pytest.raises(Problem) as caught:
        parse_model(jsonio.dumps({**GOOD, "bvn": "1234567890123"}), CreateAccountRequest)
    assert "1234567890123" not in str(caught.value.body())


DEPOSIT: dict[str, Any] = {
    "account_number": "1234567899",
    "amount": 50000,
    "transaction_reference": "WEMA-TXN-ABC123",
    "sender_name": "MARY JANE",
    "sender_account": "9876543210",
    "sender_bank": "Access Bank",
    "narration": "Deposit to Betfuz",
    "transaction_date": days_ago(1),
}


def test_a_kobo_amount_stays_exact() -> None:
    rest = jsonio.dumps({k: v for k, v in DEPOSIT.items() if k != "amount"})
    parsed = parse_model(b'{"amount": 50000.50, ' + rest[1:], DepositWebhook)
    assert parsed.amount == Decimal("50000.50")
    assert str(parsed.amount) == "50000.50"


@pytest.mark.parametrize(
    ("amount", "raw"),
    [
        ("0", "0"),
        ("-1", "-1"),
        ("-0.01", "-0.01"),
        ("1.001", "1.001"),
        ("true", "true"),
        ("null", "null"),
        ('"abc"', '"abc"'),
        ("1e400", "1e400"),
        ("[]", "[]"),
    ],
)
def test_non_positive_or_malformed_amounts_are_422(amount: str, raw: str) -> None:
    body = jsonio.dumps({k: v for k, v in DEPOSIT.items() if k != "amount"})
    with pytest.raises(Problem) as caught:
        parse_model(b'{"amount": ' + raw.encode() + b", " + body[1:], DepositWebhook)
    assert caught.value.status == 422
    assert {e.field for e in caught.value.errors} == {"amount"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account_number": "12345"}, "account_number"),
        ({"transaction_reference": ""}, "transaction_reference"),
        ({"transaction_reference": "a b"}, "transaction_reference"),
        ({"transaction_date": days_ago(1).removesuffix("Z")}, "transaction_date"),
        ({"transaction_date": "yesterday"}, "transaction_date"),
    ],
)
def test_bad_webhook_fields_are_named(change: dict[str, Any], field: str) -> None:
    assert failed_fields({**DEPOSIT, **change}, DepositWebhook) == {field}


@pytest.mark.parametrize("days", [399, 0, -0.9])
def test_a_deposit_date_a_bank_could_send_is_accepted(days: float) -> None:
    parse_model(jsonio.dumps({**DEPOSIT, "transaction_date": days_ago(days)}), DepositWebhook)


@pytest.mark.parametrize(
    "date", [days_ago(401), days_ago(-1.1), "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"]
)
def test_a_deposit_date_outside_the_plausible_window_is_422(date: str) -> None:
    assert failed_fields({**DEPOSIT, "transaction_date": date}, DepositWebhook) == {
        "transaction_date"
    }
