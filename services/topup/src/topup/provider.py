"""Selcom utility-payment client: signed calls, answers mapped to what they mean for a topup.

A refund needs proof that Selcom did not, and never will, deliver the airtime. Selcom publishes
four kinds of answer: 000 success, 111 and 927 in progress, 999 ambiguous, and "FAIL" for all
other codes. We do not take that last one at its word: Selcom's own documentation shows a FAIL
for "no response from upstream system", and gateways answer a repeated transid with an error
code of their own. So an answer means, and only means:

- success: code 000 (in a query item, also an explicit SUCCESS status);
- failed: a code on FINAL_FAILURE_CODES, the explicit list of "not processed, and final" answers
  (051, the definitive failure our Selcom integration and its sandbox use), or in a query item
  an explicit FAILED-family status that its code, when it has one, does not contradict;
- pending: everything else. The in-progress and ambiguous codes; any code we do not know as
  final (a "duplicate transid" error to a re-submit among them, logged); any HTTP status other
  than 2xx, whatever its body says (401/403 also logged as errors: our credentials were refused
  and a person must act); a body we cannot read; a timeout; a network error once connected;
- refused: the connection was refused before the request went out (nothing reached Selcom):
  the one answer after which routing may hand the order to the next provider.

A code joins FINAL_FAILURE_CODES only when Selcom confirms in writing that it is final. Until
then a topup answered with it stays pending, is queried again, and is flagged at the SLA.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from betfuz_common import jsonio
from betfuz_common.logging import get_logger
from betfuz_common.money import as_json_number
from topup import signing
from topup.ports import Outcome, Plan, ProcessOrder, ProviderResult

log = get_logger("topup.selcom")

PROCESS_PATH = "/v1/utilitypayment/process"
QUERY_PATH = "/v1/utilitypayment/query"
SUCCESS_CODE = "000"
IN_PROGRESS_CODES = frozenset({"111", "927", "999"})
FINAL_FAILURE_CODES = frozenset({"051"})
# The query answers this when it has never seen the transid.
NOT_FOUND_CODES = frozenset({"404"})
_SUCCESS_STATUSES = frozenset({"SUCCESS", "SUCCESSFUL", "COMPLETED"})
# Explicit verdicts only: "FAIL" and "ERROR" also label answers whose outcome is unknown.
_FAILED_STATUSES = frozenset({"FAILED", "FAILURE", "REJECTED", "CANCELLED"})


def outcome_for_code(code: str) -> Outcome:
    if code == SUCCESS_CODE:
        return "success"
    if code in FINAL_FAILURE_CODES:
        return "failed"
    return "pending"  # in progress, ambiguous, or not known to be final


def outcome_for_status(status: str) -> Outcome:
    """A status word (a webhook's, a query item's): only an explicit verdict settles."""
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


class SelcomProvider:
    name = "selcom"
    sells_data_by_amount = True  # a utility code per carrier for data, any amount

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

    def transaction_id(self, reference: str, now: datetime) -> str:
        return reference  # Selcom's transid is our reference itself

    async def plans(self, carrier: str) -> list[Plan] | None:
        return None  # no data catalogue: data is sold by amount

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
        if isinstance(body, ProviderResult):
            return body
        code = _code(body)
        if code is None:
            return ProviderResult("pending", None, "Selcom answered without a result code")
        outcome = outcome_for_code(code)
        if outcome == "pending" and code not in IN_PROGRESS_CODES:
            log.warning(
                "selcom_unrecognised_code", call="process", transid=order.transid, code=code
            )
        return ProviderResult(outcome, code, _text(body.get("message")), _reference(body))

    async def query(self, transid: str) -> ProviderResult:
        fields = {"transid": transid}
        request = self._http.build_request(
            "GET", QUERY_PATH, params=fields, headers=self._headers(fields)
        )
        body = await self._send(request, transid, "query")
        if isinstance(body, ProviderResult):
            return body
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
        outcome = _item_outcome(status if isinstance(status, str) else None, item_code)
        return ProviderResult(
            outcome,
            item_code or code,
            _text(item.get("message")) or message,
            _reference(item) or _reference(body),
        )

    async def _send(
        self, request: httpx.Request, transid: str, call: str
    ) -> dict[str, Any] | ProviderResult:
        """Selcom's answer (a JSON object under a 2xx), or the pending result saying why there
        is none: an HTTP refusal, a 5xx or an unreadable body is not Selcom's word on the order."""
        started = time.perf_counter()
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException:
            log.warning("selcom_timeout", call=call, transid=transid)
            return ProviderResult("pending", None, "no definitive answer from Selcom")
        except httpx.ConnectError as exc:
            # No connection, so no request: Selcom provably did not get this call.
            log.warning(
                "selcom_refused_connection", call=call, transid=transid, error=type(exc).__name__
            )
            return ProviderResult("refused", None, "Selcom refused the connection")
        except httpx.HTTPError as exc:
            log.warning("selcom_unreachable", call=call, transid=transid, error=type(exc).__name__)
            return ProviderResult("pending", None, "no definitive answer from Selcom")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        status = response.status_code
        _record_call(call, transid, status, elapsed_ms)
        try:
            loaded = jsonio.loads(response.content)
        except jsonio.JsonError:
            loaded = None
        body = loaded if isinstance(loaded, dict) else None
        if response.is_success and body is not None:
            return body
        if status in (401, 403):
            log.error("selcom_rejected_credentials", call=call, transid=transid, http_status=status)
        elif 400 <= status < 500:
            # A re-submit refused as "duplicate transid" lands here: Selcom has the order.
            log.warning("selcom_refused", call=call, transid=transid, http_status=status)
        said = "" if body is None else f": {_code(body) or '-'} {_text(body.get('message'))}"
        return ProviderResult("pending", None, _text(f"HTTP {status} from Selcom{said}".strip()))


def _record_call(call: str, transid: str, status: int, elapsed_ms: float) -> None:
    """Inside a request, the call's status and time go on that request's own lines (its outcome
    line and its access line) instead of a line of their own: one write fewer per purchase.
    Outside one (the reconciliation loop), a line of its own, as a loop has no access line."""
    if "request_id" in structlog.contextvars.get_contextvars():
        structlog.contextvars.bind_contextvars(selcom_http_status=status, selcom_ms=elapsed_ms)
        return
    log.info("selcom_call", call=call, transid=transid, http_status=status, duration_ms=elapsed_ms)


def _item_outcome(status: str | None, code: str | None) -> Outcome:
    """A query's transaction item settles only when what it says is a verdict and its status
    word and its code, when it has both, agree."""
    said = {outcome_for_status(status)} if status else set()
    if code is not None:
        said.add(outcome_for_code(code))
    return said.pop() if len(said) == 1 else "pending"


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
