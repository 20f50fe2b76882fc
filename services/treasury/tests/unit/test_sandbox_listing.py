"""The Wema sandbox's side of the listing contract, and deposits made with no webhook."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from betfuz_common import jsonio
from sandboxes.wema.accounts import Bank
from sandboxes.wema.server import SandboxConfig, create_app
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET
from treasury.provider import ProviderUnavailable, WemaClient

NOW = datetime.now(UTC)
WINDOW = {
    "from": (NOW - timedelta(hours=1)).isoformat(),
    "to": (NOW + timedelta(hours=1)).isoformat(),
}


def sandbox(bank: Bank, page_size: int = 2) -> httpx.AsyncClient:
    # No webhook can reach this address: only deposits with "notify": false are made here.
    config = SandboxConfig(WEMA_KEY, [WEMA_SECRET.encode()], "http://127.0.0.1:9/x", page_size)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(config, bank)), base_url="http://wema.test"
    )


async def make(client: httpx.AsyncClient, **order: Any) -> dict[str, Any]:
    body = {"account_number": "0123456789", "amount": "150.25", "notify": False, **order}
    answer = await client.post("/_sandbox/deposits", content=jsonio.dumps(body))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_a_deposit_made_without_a_webhook_is_listed_with_the_webhook_fields() -> None:
    bank = Bank()
    async with sandbox(bank) as client:
        made = await make(client, deposits=5)
        pages = []
        page: int | None = 1
        while page is not None:
            answer = await client.get(
                "/v1/transactions", params={**WINDOW, "page": page}, headers={"x-api-key": WEMA_KEY}
            )
            assert answer.status_code == 200
            pages.append(answer.json()["data"]["items"])
            page = answer.json()["data"]["nextPage"]

    assert made["deliveries"] == 0
    assert made["statuses"] == {}
    assert [len(items) for items in pages] == [2, 2, 1]
    listed = [item for items in pages for item in items]
    assert [i["transaction_reference"] for i in listed] == made["references"]
    assert set(listed[0]) == {
        "account_number",
        "amount",
        "transaction_reference",
        "sender_name",
        "sender_account",
        "sender_bank",
        "narration",
        "transaction_date",
    }


async def test_the_treasury_client_reads_what_the_sandbox_lists() -> None:
    bank = Bank()
    async with sandbox(bank, page_size=3) as client:
        made = await make(client, deposits=7)
        wema = WemaClient(client, api_key=WEMA_KEY, signing_secret=WEMA_SECRET.encode())
        deposits = await wema.list_transactions(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
        outside = await wema.list_transactions(NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    assert [d.transaction_reference for d in deposits] == made["references"]
    assert outside == []


async def test_the_listing_wants_the_api_key_and_a_window() -> None:
    async with sandbox(Bank()) as client:
        keyless = await client.get("/v1/transactions", params={**WINDOW, "page": 1})
        wrong = await client.get(
            "/v1/transactions", params={**WINDOW, "page": 1}, headers={"x-api-key": "nope"}
        )
        bad = [
            await client.get("/v1/transactions", params=params, headers={"x-api-key": WEMA_KEY})
            for params in (
                {"to": WINDOW["to"]},
                {**WINDOW, "from": "yesterday"},
                {**WINDOW, "from": "2026-12-01T00:00:00"},  # no offset
                {**WINDOW, "page": "0"},
                {**WINDOW, "page": "١"},  # an Arabic-Indic one
            )
        ]
    assert keyless.status_code == wrong.status_code == 401
    assert [answer.status_code for answer in bad] == [400] * 5


@pytest.mark.parametrize("mode", ["error", "garbage"])
async def test_a_listing_fault_makes_the_client_fail_then_clears(mode: str) -> None:
    bank = Bank()
    async with sandbox(bank) as client:
        await make(client)
        queued = await client.post(
            "/_sandbox/listing-fail-next", content=jsonio.dumps({"mode": mode})
        )
        wema = WemaClient(client, api_key=WEMA_KEY, signing_secret=WEMA_SECRET.encode())
        with pytest.raises(ProviderUnavailable):
            await wema.list_transactions(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
        again = await wema.list_transactions(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert queued.json() == {"queued": 1}
    assert len(again) == 1


async def test_bad_fault_and_notify_orders_are_400_and_change_nothing() -> None:
    bank = Bank()
    async with sandbox(bank) as client:
        fault = await client.post(
            "/_sandbox/listing-fail-next", content=jsonio.dumps({"mode": "reject"})
        )
        notify_flag = await client.post(
            "/_sandbox/deposits",
            content=jsonio.dumps({"account_number": "0123456789", "amount": "5", "notify": "no"}),
        )
        unknown = await client.post(
            "/_sandbox/notify", content=jsonio.dumps({"reference": "NEVER-MADE"})
        )
    assert fault.status_code == notify_flag.status_code == 400
    assert unknown.status_code == 404
    assert bank.listing_failures == []
    assert bank.deposits == []
