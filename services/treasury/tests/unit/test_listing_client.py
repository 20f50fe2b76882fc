"""The Wema listing client against a fake wire: every page read, anything else a ProviderError."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from betfuz_common import jsonio
from treasury.provider import ProviderTimeout, ProviderUnavailable, WemaClient

START = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def item(reference: str, **changes: Any) -> dict[str, Any]:
    return {
        "account_number": "0123456789",
        "amount": Decimal("5000.50"),
        "transaction_reference": reference,
        "sender_name": "MARY JANE",
        "sender_account": "9876543210",
        "sender_bank": "Access Bank",
        "narration": "Deposit to Betfuz",
        "transaction_date": (START + timedelta(minutes=5)).isoformat(),
        **changes,
    }


def page(items: list[dict[str, Any]], next_page: int | None) -> bytes:
    return jsonio.dumps({"status": "success", "data": {"items": items, "nextPage": next_page}})


def client(handler: Any) -> WemaClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://wema.test")
    return WemaClient(http, api_key="key-1", signing_secret=b"secret-1")


async def test_every_page_is_read_in_order_with_the_window_and_the_api_key() -> None:
    seen: list[httpx.Request] = []
    pages = {"1": page([item("A"), item("B")], 2), "2": page([item("C")], 3), "3": page([], None)}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=pages[request.url.params["page"]])

    deposits = await client(handler).list_transactions(START, END)

    assert [d.transaction_reference for d in deposits] == ["A", "B", "C"]
    assert deposits[0].amount == Decimal("5000.50")
    assert [r.url.params["page"] for r in seen] == ["1", "2", "3"]
    for request in seen:
        assert request.method == "GET"
        assert request.url.path == "/v1/transactions"
        assert request.headers["x-api-key"] == "key-1"
        assert datetime.fromisoformat(request.url.params["from"]) == START
        assert datetime.fromisoformat(request.url.params["to"]) == END


async def test_an_empty_listing_is_no_deposits() -> None:
    deposits = await client(
        lambda _: httpx.Response(200, content=page([], None))
    ).list_transactions(START, END)
    assert deposits == []


@pytest.mark.parametrize(
    "body",
    [
        b"<html>maintenance</html>",
        b"",
        b'{"status": "failed", "message": "try later"}',
        b'{"status": "success"}',
        b'{"status": "success", "data": {"items": {}, "nextPage": null}}',
        b'{"status": "success", "data": {"items": [], "nextPage": "2"}}',
        b'{"status": "success", "data": {"items": [], "nextPage": 0}}',
        b'{"status": "success", "data": {"items": [], "nextPage": true}}',
        b'{"status": "success", "data": {"items": []}}',
        b'{"status": "success", "status": "success", "data": {"items": [], "nextPage": null}}',
        b"[1, 2]",
    ],
)
async def test_an_answer_that_is_not_the_listing_is_unavailable(body: bytes) -> None:
    with pytest.raises(ProviderUnavailable):
        await client(lambda _: httpx.Response(200, content=body)).list_transactions(START, END)


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": Decimal("-5")},
        {"amount": "abc"},
        {"account_number": "12345"},
        {"transaction_date": "2026-11-30T23:05:00"},  # no offset
        {"transaction_date": "1990-01-01T00:00:00Z"},  # further back than a bank would send
        {"transaction_reference": "BAD\u0000REF"},
        {"transaction_reference": None},
    ],
)
async def test_one_unreadable_deposit_fails_the_whole_listing_without_its_values(
    bad: dict[str, Any],
) -> None:
    body = page([item("GOOD"), item("BAD", **bad)], None)
    with pytest.raises(ProviderUnavailable) as raised:
        await client(lambda _: httpx.Response(200, content=body)).list_transactions(START, END)
    assert "MARY JANE" not in str(raised.value)
    assert "9876543210" not in str(raised.value)


async def test_a_failure_on_a_later_page_fails_the_listing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "1":
            return httpx.Response(200, content=page([item("A")], 2))
        return httpx.Response(500, content=b"oops")

    with pytest.raises(ProviderUnavailable, match="500"):
        await client(handler).list_transactions(START, END)


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502, 503])
async def test_any_status_but_200_is_unavailable(status: int) -> None:
    with pytest.raises(ProviderUnavailable, match=str(status)):
        await client(lambda _: httpx.Response(status, content=page([], None))).list_transactions(
            START, END
        )


async def test_a_timeout_is_a_provider_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderTimeout):
        await client(handler).list_transactions(START, END)


async def test_a_connection_failure_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderUnavailable):
        await client(handler).list_transactions(START, END)


@pytest.mark.parametrize("next_page", [1, 10_001])
async def test_pages_that_do_not_advance_are_refused_rather_than_read_for_ever(
    next_page: int,
) -> None:
    body = page([item("A")], next_page)
    with pytest.raises(ProviderUnavailable, match="listing pages"):
        await client(lambda _: httpx.Response(200, content=body)).list_transactions(START, END)
