"""The sandboxes answer bad input with a 4xx that says what is wrong, and say what happened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from betfuz_common import jsonio
from sandboxes.selcom.app import SandboxConfig as SelcomConfig
from sandboxes.selcom.app import create_app as create_selcom
from sandboxes.selcom.behaviours import REFUSED
from sandboxes.wema.__main__ import deposit, summary
from sandboxes.wema.server import SandboxConfig as WemaConfig
from sandboxes.wema.server import create_app as create_wema
from topup import signing

KEY, SECRET = "sandbox-test-key", b"sandbox-test-secret"


@pytest.fixture
async def wema() -> AsyncIterator[httpx.AsyncClient]:
    config = WemaConfig(api_key=KEY, secrets=[SECRET], webhook_url="http://127.0.0.1:9/none")
    transport = httpx.ASGITransport(create_wema(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://wema") as client:
        yield client


@pytest.fixture
async def selcom() -> AsyncIterator[httpx.AsyncClient]:
    # The numbers used here answer at once: no webhook, so the app's lifespan is not needed.
    app = create_selcom(SelcomConfig(api_key=KEY, secret=SECRET, api_base_url="http://x"))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://selcom") as client:
        yield client


@pytest.mark.parametrize(
    ("order", "said"),
    [
        ({"account_number": "0123456789", "amount": "abc"}, "amount must be a positive naira"),
        ({"account_number": "0123456789", "amount": "-1"}, "amount must be a positive naira"),
        ({"account_number": "0123456789", "amount": True}, "amount must be a positive naira"),
        ({"account_number": "123", "amount": "5"}, "account_number must be the 10-digit"),
        ({"account_number": 123456789, "amount": "5"}, "account_number must be the 10-digit"),
        ({"account_number": "0123456789", "amount": "5", "duplicates": 0}, "duplicates must be"),
        ({"account_number": "0123456789", "amount": "5", "deposits": "2"}, "deposits must be"),
        ({"account_number": "0123456789", "amount": "5", "out_of_order": "y"}, "true or false"),
        ([], "expected a JSON object"),
    ],
)
async def test_a_bad_deposit_order_is_a_400_naming_the_field(
    wema: httpx.AsyncClient, order: Any, said: str
) -> None:
    answer = await wema.post("/_sandbox/deposits", content=jsonio.dumps(order))
    assert answer.status_code == 400
    assert said in answer.json()["message"]


async def test_every_bad_field_is_named_in_one_answer(wema: httpx.AsyncClient) -> None:
    answer = await wema.post("/_sandbox/deposits", json={"account_number": "1", "amount": "x"})
    assert len(answer.json()["problems"]) == 2


@pytest.mark.parametrize("path", ["/_sandbox/deposits", "/_sandbox/fail-next"])
async def test_a_body_that_is_not_json_is_a_400(wema: httpx.AsyncClient, path: str) -> None:
    answer = await wema.post(path, content=b"amount=abc")
    assert answer.status_code == 400
    assert "not JSON" in answer.json()["message"]


@pytest.mark.parametrize(
    ("order", "said"),
    [
        ({"mode": "explode"}, "mode must be one of timeout, error, reject"),
        ({"mode": "error", "times": -1}, "times must be a whole number"),
        ({"mode": "timeout", "delay_seconds": "soon"}, "delay_seconds must be a number"),
    ],
)
async def test_a_bad_failure_order_is_a_400(
    wema: httpx.AsyncClient, order: dict[str, Any], said: str
) -> None:
    answer = await wema.post("/_sandbox/fail-next", json=order)
    assert answer.status_code == 400
    assert said in answer.json()["message"]


def test_the_deposit_command_refuses_bad_input_before_calling_the_sandbox(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert deposit(["--account", "0123456789", "--amount", "abc", "--sandbox", "http://x"]) == 2
    assert "amount 'abc' is not a positive naira amount" in capsys.readouterr().err


def test_a_deposit_summary_says_what_the_treasury_did() -> None:
    result = {
        "references": ["WEMA-TXN-1"],
        "statuses": {"200": 3},
        "outcomes": {"credited": 1, "duplicate": 2},
    }
    credited, line = summary(result, "0123456789", "50000")
    assert credited
    assert "WEMA-TXN-1 of ₦50,000.00 to 0123456789" in line
    assert "credited ×1, duplicate ×2" in line
    held, line = summary({**result, "outcomes": {"held_for_review": 1}}, "0000000011", "5")
    assert not held
    assert "held for review" in line


def test_a_deposit_made_with_no_webhook_says_reconciliation_will_credit_it() -> None:
    result = {"references": ["WEMA-TXN-2"], "deliveries": 0, "statuses": {}, "outcomes": {}}
    made, line = summary(result, "0123456789", "700")
    assert made
    assert "WEMA-TXN-2 of ₦700.00 to 0123456789" in line
    assert "no webhook (NOTIFY=0); the next reconciliation tick credits it" in line


def signed(fields: dict[str, Any]) -> dict[str, str]:
    return signing.signed_headers(api_key=KEY, secret=SECRET, now=datetime.now(UTC), fields=fields)


def process_order(**changes: Any) -> dict[str, Any]:
    order = {
        "transid": "TOPDEMO1",
        "utilityref": "08030000001",
        "amount": "1000",
        "vendor": "BETFUZDEV",
        "pin": "0000",
        "msisdn": "08030000001",
        "utilitycode": "AIRTIME",
    }
    return {**order, **changes}


async def test_a_definitive_failure_says_the_operator_refused_it(selcom: httpx.AsyncClient) -> None:
    fields = process_order(utilityref="08030000002", msisdn="08030000002")
    answer = await selcom.post("/v1/utilitypayment/process", json=fields, headers=signed(fields))
    assert answer.json()["resultcode"] == "051"
    assert answer.json()["message"] == REFUSED
    assert "refused" in REFUSED


@pytest.mark.parametrize("amount", ["abc", "-5", "0", "NaN"])
async def test_a_signed_order_with_a_bad_amount_is_a_400_that_says_so(
    selcom: httpx.AsyncClient, amount: str
) -> None:
    fields = process_order(amount=amount)
    answer = await selcom.post("/v1/utilitypayment/process", json=fields, headers=signed(fields))
    assert answer.status_code == 400
    assert "amount must be a positive number" in answer.json()["message"]


async def test_a_signed_query_without_a_transid_is_a_400_that_says_so(
    selcom: httpx.AsyncClient,
) -> None:
    fields = {"transid": ""}
    answer = await selcom.get("/v1/utilitypayment/query", params=fields, headers=signed(fields))
    assert answer.status_code == 400
    assert "transid is required" in answer.json()["message"]


async def test_a_call_count_without_a_transid_is_a_400_that_says_so(
    selcom: httpx.AsyncClient,
) -> None:
    calls = await selcom.get("/_sandbox/calls")
    assert calls.status_code == 400
    assert "transid is required" in calls.json()["message"]
