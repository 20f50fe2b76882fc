import base64
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from betfuz_common import jsonio
from betfuz_common.money import as_json_number
from topup import signing
from topup.config import DEV_UTILITY_CODES, parse_utility_codes
from topup.ports import ProcessOrder, ProviderResult
from topup.provider import SelcomProvider

SECRET = b"unit-secret"
NOW = datetime(2025, 1, 15, 14, 30, tzinfo=UTC)
ORDER = ProcessOrder("TOPABC", "mtn", "airtime", "+2348030000001", Decimal("1000.00"))
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> SelcomProvider:
    http = httpx.AsyncClient(base_url="https://gw.test", transport=httpx.MockTransport(handler))
    return SelcomProvider(
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
     ("051", "failed"), (0, "success"), (51, "failed")],
)  # fmt: skip
async def test_process_maps_result_codes_as_the_gateway_defines_them(
    code: object, outcome: str
) -> None:
    result = await client(answer({"resultcode": code, "message": "m"})).process(ORDER)
    assert result.outcome == outcome


@pytest.mark.parametrize(
    "code",
    ["409", "094", "401", "403", "404", "500", "DUP", "V012", "51", "0051", "-1", ""],
)
async def test_a_code_outside_the_final_failure_list_keeps_the_topup_pending(code: str) -> None:
    # "Duplicate transid" and "no response from upstream" come back as codes like these: a
    # refund on any of them could pay back airtime Selcom delivered.
    with capture_logs() as logs:
        result = await client(answer({"resultcode": code, "result": "FAIL"})).process(ORDER)
    assert result.outcome == "pending"
    if code:
        assert result.result_code == code
        assert any(e["event"] == "selcom_unrecognised_code" for e in logs)


@pytest.mark.parametrize("status", [400, 404, 409, 422, 429])
async def test_an_http_refusal_of_a_process_call_is_no_answer_and_leaves_the_topup_pending(
    status: int,
) -> None:
    # A re-submit refused as "duplicate transid" (409) is Selcom saying it HAS the order.
    body = {"resultcode": "051", "result": "FAIL", "message": "duplicate transid"}
    result = await client(answer(body, status=status)).process(ORDER)
    assert result.outcome == "pending"
    assert result.result_code is None
    assert f"HTTP {status}" in result.message
    assert "duplicate transid" in result.message


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_leave_the_topup_pending_and_are_logged_as_an_error(
    status: int,
) -> None:
    with capture_logs() as logs:
        process = await client(answer({"resultcode": "401"}, status=status)).process(ORDER)
        query = await client(lambda _: httpx.Response(status, content=b"denied")).query("T")
    assert (process.outcome, query.outcome) == ("pending", "pending")
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [(e["event"], e["call"]) for e in errors] == [
        ("selcom_rejected_credentials", "process"),
        ("selcom_rejected_credentials", "query"),
    ]


@pytest.mark.parametrize(
    "handler",
    [
        answer({"message": "no code"}),
        answer({"resultcode": "051"}, status=502),
        lambda _: httpx.Response(200, content=b"<html>"),
        lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=request)),
        lambda request: (_ for _ in ()).throw(httpx.ReadError("dropped", request=request)),
    ],
    ids=["no-code", "5xx", "not-json", "timeout", "dropped-once-connected"],
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
        ({"resultcode": "000", "data": [{"status": "FAILED"}]}, "failed"),
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


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ({"status": "FAILED", "resultcode": "403"}, "a FAILED label on a code not known as final"),
        ({"status": "FAIL", "resultcode": "403"}, "Selcom's generic FAIL label"),
        ({"status": "ERROR"}, "an error is not a verdict"),
        ({"status": "FAIL"}, "FAIL labels every non-success, upstream timeouts too"),
        ({"resultcode": "409", "message": "duplicate transid"}, "a duplicate error"),
        ({"resultcode": "DUP"}, "a code outside the documented set"),
        ({"status": "SUCCESS", "resultcode": "051"}, "status and code disagree"),
        ({"status": "PENDING", "resultcode": "051"}, "status and code disagree"),
        ({"status": 7, "resultcode": None}, "unreadable"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_a_query_item_that_is_not_a_documented_final_failure_never_fails_the_topup(
    item: dict[str, Any], why: str
) -> None:
    result = await client(answer({"resultcode": "000", "data": [item]})).query("TOPABC")
    assert result.outcome == "pending", why


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"resultcode": "404", "message": "not found"}),
        (409, {"resultcode": "000", "data": [{"status": "FAILED", "resultcode": "051"}]}),
        (400, {"resultcode": "000", "data": [{"status": "SUCCESS"}]}),
    ],
)
async def test_a_query_refused_over_http_says_nothing_about_the_topup(
    status: int, body: dict[str, Any]
) -> None:
    # Only a 2xx carries Selcom's word; "not found" over HTTP 404 could be a wrong path too.
    result = await client(answer(body, status=status)).query("TOPABC")
    assert result.outcome == "pending"
    assert result.result_code is None


def test_amounts_go_as_integers_when_whole_and_exact_decimals_otherwise() -> None:
    assert as_json_number(Decimal("8000.00")) == 8000
    assert as_json_number(Decimal("100.50")) == Decimal("100.50")
    assert signing.field_text(as_json_number(Decimal("100.50"))) == "100.50"


async def test_a_refused_connection_is_a_provable_non_acceptance_not_a_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = await client(refuse).process(ORDER)
    assert (result.outcome, result.result_code) == ("refused", None)
