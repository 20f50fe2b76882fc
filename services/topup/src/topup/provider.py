"""Selcom utility-payment client: signed calls, answers mapped to what they mean for a topup.

Only an answer that carries a result code is definitive. Timeouts, connection errors, 5xx and
unreadable bodies mean "we do not know", so the topup stays pending and is queried later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from betfuz_common import jsonio
from betfuz_common.logging import get_logger
from betfuz_common.money import as_json_number
from topup import signing
from topup.ports import Outcome, ProcessOrder, ProviderResult

log = get_logger("topup.selcom")

PROCESS_PATH = "/v1/utilitypayment/process"
QUERY_PATH = "/v1/utilitypayment/query"
SUCCESS_CODE = "000"
IN_PROGRESS_CODES = frozenset({"111", "927", "999"})
# The query answers this when it has never seen the transid.
NOT_FOUND_CODES = frozenset({"404"})
_SUCCESS_STATUSES = frozenset({"SUCCESS", "SUCCESSFUL", "COMPLETED"})
_FAILED_STATUSES = frozenset({"FAIL", "FAILED", "FAILURE", "REJECTED", "CANCELLED", "ERROR"})


def outcome_for_code(code: str) -> Outcome:
    if code == SUCCESS_CODE:
        return "success"
    if code in IN_PROGRESS_CODES:
        return "pending"
    return "failed"


def outcome_for_status(status: str) -> Outcome:
    upper = status.strip().upper()
    if upper in _SUCCESS_STATUSES:
        return "success"
    if upper in _FAILED_STATUSES:
        return "failed"
    return "pending"


def national(phone: str) -> str:
    return "0" + phone.removeprefix("+234")


def msisdn(phone: str) -> str:
    return phone.removeprefix("+")


class SelcomClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        secret: bytes,
        vendor: str,
        pin: str,
        utility_codes: Mapping[tuple[str, str], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._secret = secret
        self._vendor = vendor
        self._pin = pin
        self._codes = dict(utility_codes)
        self._clock = clock

    def _headers(self, fields: Mapping[str, object]) -> dict[str, str]:
        return signing.signed_headers(
            api_key=self._api_key, secret=self._secret, now=self._clock(), fields=fields
        )

    async def process(self, order: ProcessOrder) -> ProviderResult:
        fields: dict[str, object] = {
            "transid": order.transid,
            "utilitycode": self._codes[(order.carrier, order.product_type)],
            "utilityref": national(order.phone),
            "amount": as_json_number(order.amount),  # whole Naira as an integer, as Selcom shows
            "vendor": self._vendor,
            "pin": self._pin,
            "msisdn": msisdn(order.phone),
        }
        headers = {**self._headers(fields), "Content-Type": "application/json"}
        request = self._http.build_request(
            "POST", PROCESS_PATH, content=jsonio.dumps(fields), headers=headers
        )
        body = await self._send(request, order.transid, "process")
        if body is None:
            return ProviderResult("pending", None, "no definitive answer from Selcom")
        code = _code(body)
        if code is None:
            return ProviderResult("pending", None, "Selcom answered without a result code")
        return ProviderResult(
            outcome_for_code(code), code, _text(body.get("message")), _reference(body)
        )

    async def query(self, transid: str) -> ProviderResult:
        fields = {"transid": transid}
        request = self._http.build_request(
            "GET", QUERY_PATH, params=fields, headers=self._headers(fields)
        )
        body = await self._send(request, transid, "query")
        if body is None:
            return ProviderResult("pending", None, "no definitive answer from Selcom")
        code = _code(body)
        message = _text(body.get("message"))
        if code in NOT_FOUND_CODES:
            return ProviderResult("not_found", code, message)
        if code != SUCCESS_CODE:
            # A query that failed says nothing about the topup itself.
            return ProviderResult("pending", code, message)
        data = body.get("data")
        item: object = data[0] if isinstance(data, list) and data else {}
        if not isinstance(item, Mapping):
            return ProviderResult("pending", code, "unreadable query data")
        item_code = _code(item)
        status = item.get("status") or item.get("payment_status")
        if isinstance(status, str) and status:
            outcome = outcome_for_status(status)
        elif item_code is not None:
            outcome = outcome_for_code(item_code)
        else:
            outcome = "pending"
        return ProviderResult(
            outcome,
            item_code or code,
            _text(item.get("message")) or message,
            _reference(item) or _reference(body),
        )

    async def _send(self, request: httpx.Request, transid: str, call: str) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException:
            log.warning("selcom_timeout", call=call, transid=transid)
            return None
        except httpx.HTTPError as exc:
            log.warning("selcom_unreachable", call=call, transid=transid, error=type(exc).__name__)
            return None
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        log.info(
            "selcom_call",
            call=call,
            transid=transid,
            http_status=response.status_code,
            duration_ms=elapsed_ms,
        )
        if response.status_code >= 500:
            return None
        try:
            body = jsonio.loads(response.content)
        except jsonio.JsonError:
            return None
        if response.status_code in (401, 403):
            log.error("selcom_rejected_credentials", call=call, transid=transid)
        return body if isinstance(body, dict) else None


def _code(body: Mapping[str, Any]) -> str | None:
    value = body.get("resultcode", body.get("result_code"))
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:03d}"
    return value.strip() if isinstance(value, str) and value.strip() else None


def _text(value: object) -> str:
    return value[:500] if isinstance(value, str) else ""


def _reference(body: Mapping[str, Any]) -> str | None:
    value = body.get("reference")
    return value[:128] if isinstance(value, str) and value else None
