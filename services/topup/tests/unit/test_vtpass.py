"""The VTpass client: what it sends, and what each answer means for a topup."""

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from betfuz_common import jsonio
from topup.config import VTPASS_SERVICE_IDS, parse_utility_codes
from topup.errors import PlansUnavailable
from topup.ports import ProcessOrder
from topup.vtpass import VtpassProvider, request_id

Handler = Callable[[httpx.Request], httpx.Response]
AIRTIME = ProcessOrder("202501151530TOPABC", "mtn", "airtime", "+2348060000001", Decimal("500"))
DATA = ProcessOrder(
    "202501151530TOPDEF", "glo", "data", "+2348050000001", Decimal("1000"), "glo1000"
)


def client(handler: Handler) -> VtpassProvider:
    http = httpx.AsyncClient(
        base_url="https://vtpass.test",
        transport=httpx.MockTransport(handler),
        auth=httpx.BasicAuth("user@betfuz.ng", "pass-word-0123456789"),
    )
    return VtpassProvider(http, service_ids=parse_utility_codes(VTPASS_SERVICE_IDS))


def answer(body: dict[str, Any], status: int = 200) -> Handler:
    return lambda _: httpx.Response(status, json=body)


def processed(status: str) -> dict[str, Any]:
    return {
        "code": "000",
        "response_description": "TRANSACTION SUCCESSFUL",
        "content": {"transactions": {"status": status, "transactionId": 17415980564672211}},
    }


def raising(exc: type[httpx.RequestError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return handler


def test_the_request_id_starts_with_the_lagos_date_and_time_then_our_reference() -> None:
    # 23:30 UTC on 31 December is already 00:30 on 1 January in Lagos.
    now = datetime(2025, 12, 31, 23, 30, 59, tzinfo=UTC)
    made = request_id("TOP0123456789ABCDEF", now)
    assert made == "202601010030TOP0123456789ABCDEF"
    assert len(made) >= 12
    lagos = now.astimezone(ZoneInfo("Africa/Lagos"))
    assert made[:12] == lagos.strftime("%Y%m%d%H%M")


def test_the_request_id_is_the_same_whatever_zone_the_clock_reads_in() -> None:
    now = datetime(2025, 6, 1, 8, 5, tzinfo=UTC)
    elsewhere = now.astimezone(timezone(timedelta(hours=-5)))
    assert request_id("TOPX", now) == request_id("TOPX", elsewhere) == "202506010905TOPX"
    with pytest.raises(ValueError, match="aware"):
        request_id("TOPX", datetime(2025, 6, 1, 8, 5))  # naive: refused


async def test_airtime_is_a_basic_auth_post_of_the_documented_fields() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=processed("delivered"))

    result = await client(handler).process(AIRTIME)
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/api/pay")
    token = base64.b64encode(b"user@betfuz.ng:pass-word-0123456789").decode()
    assert request.headers["authorization"] == f"Basic {token}"
    assert jsonio.loads(request.content) == {
        "request_id": "202501151530TOPABC",
        "serviceID": "mtn",
        "amount": 500,
        "phone": "08060000001",
    }
    assert (result.outcome, result.result_code) == ("success", "000")
    assert result.external_reference == "17415980564672211"


async def test_a_data_plan_adds_the_biller_code_and_the_variation() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=processed("delivered"))

    await client(handler).process(DATA)
    body = jsonio.loads(seen[0].content)
    assert body["serviceID"] == "glo-data"
    assert (body["billersCode"], body["variation_code"]) == ("08050000001", "glo1000")


@pytest.mark.parametrize(
    ("handler", "outcome"),
    [
        (answer(processed("delivered")), "success"),
        (answer(processed("failed")), "failed"),
        (answer(processed("reversed")), "failed"),
        (answer({"code": "016", "response_description": "TRANSACTION FAILED"}), "failed"),
        (answer(processed("initiated")), "pending"),
        (answer(processed("pending")), "pending"),
        (answer(processed("resolved")), "pending"),
        (answer(processed("Delivered-ish")), "pending"),
        (answer({"code": "000"}), "pending"),
        (answer({"code": "099", "response_description": "PROCESSING"}), "pending"),
        (answer({"code": "014", "response_description": "REQUEST ID ALREADY EXIST"}), "pending"),
        (answer({"code": "019"}), "pending"),
        (answer({"code": "083"}), "pending"),
        (answer({"code": "X01"}), "pending"),
        (answer({"response_description": "no code"}), "pending"),
        (answer(processed("delivered"), status=500), "pending"),
        (answer({"code": "091"}, status=502), "pending"),
        (answer(processed("failed"), status=401), "pending"),
        (lambda _: httpx.Response(200, content=b"<html>"), "pending"),
        (raising(httpx.ReadTimeout), "pending"),
        (raising(httpx.RemoteProtocolError), "pending"),
        (raising(httpx.ReadError), "pending"),
        (answer({"code": "091", "response_description": "TRANSACTION NOT PROCESSED"}), "refused"),
        (answer({"code": "018", "response_description": "LOW WALLET BALANCE"}), "refused"),
        (answer({"code": "010"}), "refused"),
        (answer({"code": 13}), "refused"),
        (raising(httpx.ConnectError), "refused"),
    ],
    ids=[
        "delivered", "failed", "reversed", "016", "initiated", "pending", "resolved",
        "unknown-status", "000-without-status", "099", "duplicate-014", "likely-duplicate-019",
        "system-error-083", "unknown-code", "no-code", "5xx-whatever-it-says", "502-not-processed",
        "401", "not-json", "timeout", "hang-up", "dropped", "not-processed-091",
        "low-wallet-018", "bad-variation-010", "int-code-013", "connection-refused",
    ],
)  # fmt: skip
async def test_each_pay_answer_means_what_vtpass_documents_and_nothing_else(
    handler: Handler, outcome: str
) -> None:
    assert (await client(handler).process(AIRTIME)).outcome == outcome


@pytest.mark.parametrize(
    ("handler", "outcome"),
    [
        (answer(processed("delivered")), "success"),
        (answer(processed("reversed")), "failed"),
        (answer({"code": "015", "response_description": "INVALID REQUEST ID"}), "not_found"),
        (answer({"code": "091"}), "pending"),
        (answer({"code": "099"}), "pending"),
        (raising(httpx.ConnectError), "pending"),
        (raising(httpx.ReadTimeout), "pending"),
    ],
    ids=["delivered", "reversed", "never-seen", "091", "099", "refused", "timeout"],
)
async def test_a_requery_asks_by_the_stored_request_id_and_maps_its_answer(
    handler: Handler, outcome: str
) -> None:
    seen: list[httpx.Request] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    result = await client(spy).query("202501151530TOPABC")
    assert result.outcome == outcome
    assert seen[0].url.path == "/api/requery"
    assert jsonio.loads(seen[0].content) == {"request_id": "202501151530TOPABC"}


async def test_variations_become_fixed_price_plans_with_their_validity() -> None:
    body = {
        "content": {
            "varations": [
                {"variation_code": "mtn-10mb-100", "name": "N100 100MB - 24 hrs",
                 "variation_amount": "100.00", "fixedPrice": "Yes"},
                {"variation_code": "mtn-flex", "name": "Flexible", "variation_amount": "0",
                 "fixedPrice": "No"},
                {"variation_code": "mtn-bad", "name": "Bad", "variation_amount": "1e3",
                 "fixedPrice": "Yes"},
                "not an object",
            ]
        }
    }  # fmt: skip
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=body)

    plans = await client(handler).plans("mtn")
    assert seen[0].url.params["serviceID"] == "mtn-data"
    assert plans is not None
    assert [(p.product_code, p.price, p.validity) for p in plans] == [
        ("mtn-10mb-100", Decimal("100.00"), "24 hrs")
    ]


@pytest.mark.parametrize(
    "handler",
    [answer({}, status=503), answer({"content": {}}), raising(httpx.ConnectError)],
    ids=["5xx", "no-list", "down"],
)
async def test_plans_that_cannot_be_read_are_unavailable_not_empty(handler: Handler) -> None:
    with pytest.raises(PlansUnavailable):
        await client(handler).plans("mtn")
