import base64
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from betfuz_common import jsonio
from betfuz_common.money import as_json_number
from topup import signing
from topup.config import DEV_UTILITY_CODES, parse_utility_codes
from topup.ports import ProcessOrder, ProviderResult
from topup.provider import SelcomClient

SECRET = b"unit-secret"
NOW = datetime(2025, 1, 15, 14, 30, tzinfo=UTC)
ORDER = ProcessOrder("TOPABC", "mtn", "airtime", "+2348030000001", Decimal("1000.00"))
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> SelcomClient:
    http = httpx.AsyncClient(base_url="https://gw.test", transport=httpx.MockTransport(handler))
    return SelcomClient(
        http,
        api_key="key",
        secret=SECRET,
        vendor="VENDOR",
        pin="4321",
        utility_codes=parse_utility_codes(DEV_UTILITY_CODES),
        clock=lambda: NOW,
    )


def answer(body: dict[str, Any], status: int = 200) -> Handler:
    return lambda _: httpx.Response(status, json=body)


async def test_process_sends_a_correctly_signed_order() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"resultcode": "000", "reference": "SEL-1"})

    result = await client(handler).process(ORDER)
    request = seen[0]
    body = jsonio.loads(request.content)
    assert request.url.path == "/v1/utilitypayment/process"
    assert body == {
        "transid": "TOPABC",
        "utilitycode": "TOP",
        "utilityref": "08030000001",
        "amount": 1000,
        "vendor": "VENDOR",
        "pin": "4321",
        "msisdn": "2348030000001",
    }
    order = request.headers["signed-fields"].split(",")
    assert order == list(body)
    expected = signing.digest(
        SECRET, signing.signing_string(request.headers["timestamp"], body, order)
    )
    assert request.headers["digest"] == expected
    assert request.headers["authorization"] == "SELCOM " + base64.b64encode(b"key").decode()
    assert request.headers["digest-method"] == "HS256"
    assert result == ProviderResult("success", "000", "", "SEL-1")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("000", "success"), ("111", "pending"), ("927", "pending"), ("999", "pending"),
     ("051", "failed"), ("401", "failed"), (0, "success")],
)  # fmt: skip
async def test_process_maps_result_codes_as_the_gateway_defines_them(
    code: object, outcome: str
) -> None:
    result = await client(answer({"resultcode": code, "message": "m"})).process(ORDER)
    assert result.outcome == outcome


@pytest.mark.parametrize(
    "handler",
    [
        answer({"message": "no code"}),
        answer({"resultcode": "051"}, status=502),
        lambda _: httpx.Response(200, content=b"<html>"),
        lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=request)),
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("down", request=request)),
    ],
    ids=["no-code", "5xx", "not-json", "timeout", "unreachable"],
)
async def test_anything_without_a_result_code_leaves_the_topup_pending(handler: Handler) -> None:
    result = await client(handler).process(ORDER)
    assert result.outcome == "pending"
    assert result.result_code is None


async def test_the_query_is_a_signed_get_of_the_transid() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"resultcode": "000", "data": [{"status": "SUCCESS"}]})

    assert (await client(handler).query("TOPABC")).outcome == "success"
    request = seen[0]
    assert request.url.path == "/v1/utilitypayment/query"
    assert request.url.params["transid"] == "TOPABC"
    stamp = request.headers["timestamp"]
    assert request.headers["signed-fields"] == "transid"
    assert request.headers["digest"] == signing.digest(SECRET, f"timestamp={stamp}&transid=TOPABC")


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        ({"resultcode": "000", "data": [{"status": "SUCCESS", "reference": "R"}]}, "success"),
        ({"resultcode": "000", "data": [{"status": "FAILED", "resultcode": "051"}]}, "failed"),
        ({"resultcode": "000", "data": [{"status": "PENDING"}]}, "pending"),
        ({"resultcode": "000", "data": [{"resultcode": "051"}]}, "failed"),
        ({"resultcode": "000", "data": []}, "pending"),
        ({"resultcode": "000", "data": ["junk"]}, "pending"),
        ({"resultcode": "404", "data": []}, "not_found"),
        ({"resultcode": "401", "message": "invalid digest"}, "pending"),
        ({"resultcode": "999"}, "pending"),
    ],
)
async def test_the_query_maps_the_transaction_status_and_never_fails_on_its_own_error(
    body: dict[str, Any], outcome: str
) -> None:
    assert (await client(answer(body)).query("TOPABC")).outcome == outcome


def test_amounts_go_as_integers_when_whole_and_exact_decimals_otherwise() -> None:
    assert as_json_number(Decimal("8000.00")) == 8000
    assert as_json_number(Decimal("100.50")) == Decimal("100.50")
    assert signing.field_text(as_json_number(Decimal("100.50"))) == "100.50"
