"""VTpass client: Basic-auth calls, answers mapped to what they mean for a topup.

VTpass's documentation says what each answer means, and tells integrators to take anything else
as pending and requery. So an answer means, and only means:

- success: code 000 with the transaction's status `delivered`;
- failed: code 000 with the status `failed` or `reversed` (VTpass gives the value back to our
  wallet there), or code 016 "transaction failed". A `reversed` arriving after `delivered` is a
  contradiction the settle path turns into a case: no money moves by itself;
- refused: a code VTpass documents as "not processed" (NOT_PROCESSED_CODES: 091 "not processed,
  you will not be charged", and the refusals of the request itself: bad variation, arguments,
  product, amount limits, our wallet or account), or a connection refused before the request
  went out. The only answers after which routing may hand the order to another provider;
- not_found: a requery answered 015 "invalid request id" (VTpass never saw it);
- pending: everything else. 099 processing, 000 with `initiated`, `pending`, `resolved` or any
  status we do not know, 014 "request id already exists" to a re-submit (VTpass has the order),
  019 "likely duplicate", any other code, any HTTP status other than 2xx, a body we cannot read,
  a timeout, a network error once connected.

The request_id is VTpass's idempotency key: its first 12 characters must be the date and time
`YYYYMMDDHHII` in Africa/Lagos, then anything (our reference). It is made once per topup and
stored, so every requery and re-submit sends the same one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from betfuz_common import jsonio
from betfuz_common.logging import get_logger
from betfuz_common.money import MoneyError, as_json_number, parse_naira
from topup.errors import PlansUnavailable
from topup.ports import Outcome, Plan, ProcessOrder, ProviderResult

log = get_logger("topup.vtpass")

PAY_PATH = "/api/pay"
REQUERY_PATH = "/api/requery"
VARIATIONS_PATH = "/api/service-variations"
PROCESSED = "000"
PROCESSING = "099"
FAILED_CODES = frozenset({"016"})
NOT_FOUND_CODES = frozenset({"015"})
# Documented refusals of the request itself: VTpass did not take the order and charged nothing.
NOT_PROCESSED_CODES = frozenset(
    {"010", "011", "012", "013", "017", "018", "021", "022", "023", "024", "091"}
)
DELIVERED = frozenset({"delivered"})
FAILED_STATUSES = frozenset({"failed", "reversed"})
# Africa/Lagos is West Africa Time, UTC+1 all year (no daylight saving): a fixed offset needs
# no time-zone database in the image.
LAGOS = timezone(timedelta(hours=1), "WAT")
REQUEST_ID_STAMP = "%Y%m%d%H%M"
_VALIDITY = re.compile(
    r"(\d+\s*(?:hrs?|hours?|days?|weeks?|months?|mins?))\s*\)?\s*$", re.IGNORECASE
)


def request_id(reference: str, now: datetime) -> str:
    """`YYYYMMDDHHII` in Lagos time, then our reference (VTpass wants at least 12 characters)."""
    if now.tzinfo is None:
        raise ValueError("request_id needs an aware datetime")
    return now.astimezone(LAGOS).strftime(REQUEST_ID_STAMP) + reference


def national(phone: str) -> str:
    return "0" + phone.removeprefix("+234")


def outcome_for(code: str | None, status: str | None) -> Outcome:
    """What a pay answer (code, and the transaction's status under 000) means."""
    if code == PROCESSED:
        word = (status or "").strip().lower()
        if word in DELIVERED:
            return "success"
        if word in FAILED_STATUSES:
            return "failed"
        return "pending"  # initiated, pending, resolved, or a word we do not know
    if code in FAILED_CODES:
        return "failed"
    if code in NOT_PROCESSED_CODES:
        return "refused"
    return "pending"


class VtpassProvider:
    name = "vtpass"
    sells_data_by_amount = False  # data only as the variations it lists

    def __init__(self, http: httpx.AsyncClient, *, service_ids: Mapping[tuple[str, str], str]):
        self._http = http  # carries the base URL and the Basic credentials
        self._ids = dict(service_ids)

    def transaction_id(self, reference: str, now: datetime) -> str:
        return request_id(reference, now)

    async def process(self, order: ProcessOrder) -> ProviderResult:
        fields: dict[str, object] = {
            "request_id": order.transid,
            "serviceID": self._ids[(order.carrier, order.product_type)],
            "amount": as_json_number(order.amount),
            "phone": national(order.phone),
        }
        if order.product_code is not None:
            fields["billersCode"] = national(order.phone)
            fields["variation_code"] = order.product_code
        body = await self._send("POST", PAY_PATH, order.transid, "pay", json_body=fields)
        if isinstance(body, ProviderResult):
            return body
        code, status = _code(body), _status(body)
        outcome = outcome_for(code, status)
        if outcome == "pending" and code not in (PROCESSED, PROCESSING):
            log.warning("vtpass_unrecognised_code", call="pay", transid=order.transid, code=code)
        return ProviderResult(outcome, code, _message(body, status), _transaction_id(body))

    async def query(self, transid: str) -> ProviderResult:
        body = await self._send("POST", REQUERY_PATH, transid, "requery", json_body={
            "request_id": transid
        })  # fmt: skip
        if isinstance(body, ProviderResult):
            return body if body.outcome != "refused" else _no_answer(body)
        code, status = _code(body), _status(body)
        if code in NOT_FOUND_CODES:
            return ProviderResult("not_found", code, _message(body, status))
        if code != PROCESSED and code not in FAILED_CODES:
            # A requery refused or unreadable says nothing about the order itself.
            return ProviderResult("pending", code, _message(body, status))
        return ProviderResult(
            outcome_for(code, status), code, _message(body, status), _transaction_id(body)
        )

    async def plans(self, carrier: str) -> list[Plan] | None:
        service_id = self._ids[(carrier, "data")]
        try:
            response = await self._http.get(VARIATIONS_PATH, params={"serviceID": service_id})
            loaded = jsonio.loads(response.content) if response.is_success else None
        except (httpx.HTTPError, jsonio.JsonError) as exc:
            raise PlansUnavailable(f"VTpass variations: {type(exc).__name__}") from None
        content = loaded.get("content") if isinstance(loaded, dict) else None
        # VTpass spells the list "varations" in some answers.
        items = (
            content.get("variations", content.get("varations"))
            if isinstance(content, dict)
            else None
        )
        if not isinstance(items, list):
            raise PlansUnavailable("VTpass variations: no list in the answer")
        return [plan for item in items if (plan := _plan(item)) is not None]

    async def _send(
        self, method: str, path: str, transid: str, call: str, *, json_body: Mapping[str, object]
    ) -> dict[str, Any] | ProviderResult:
        """VTpass's answer (a JSON object under a 2xx), or the result saying why there is none."""
        started = time.perf_counter()
        request = self._http.build_request(
            method,
            path,
            content=jsonio.dumps(dict(json_body)),
            headers={"Content-Type": "application/json"},
        )
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException:
            log.warning("vtpass_timeout", call=call, transid=transid)
            return ProviderResult("pending", None, "no definitive answer from VTpass")
        except httpx.ConnectError as exc:
            log.warning(
                "vtpass_refused_connection", call=call, transid=transid, error=type(exc).__name__
            )
            return ProviderResult("refused", None, "VTpass refused the connection")
        except httpx.HTTPError as exc:
            log.warning("vtpass_unreachable", call=call, transid=transid, error=type(exc).__name__)
            return ProviderResult("pending", None, "no definitive answer from VTpass")
        status = response.status_code
        log.info(
            "vtpass_call",
            call=call,
            transid=transid,
            http_status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        try:
            loaded = jsonio.loads(response.content)
        except jsonio.JsonError:
            loaded = None
        body = loaded if isinstance(loaded, dict) else None
        if response.is_success and body is not None:
            return body
        if status in (401, 403):
            log.error("vtpass_rejected_credentials", call=call, transid=transid, http_status=status)
        said = "" if body is None else f": {_code(body) or '-'}"
        return ProviderResult("pending", None, f"HTTP {status} from VTpass{said}")


def _no_answer(result: ProviderResult) -> ProviderResult:
    return ProviderResult("pending", result.result_code, result.message)


def _code(body: Mapping[str, Any]) -> str | None:
    value = body.get("code")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:03d}"
    return value.strip()[:16] if isinstance(value, str) and value.strip() else None


def _transaction(body: Mapping[str, Any]) -> Mapping[str, Any]:
    content = body.get("content")
    item = content.get("transactions") if isinstance(content, Mapping) else None
    return item if isinstance(item, Mapping) else {}


def _status(body: Mapping[str, Any]) -> str | None:
    status = _transaction(body).get("status")
    return status if isinstance(status, str) else None


def _transaction_id(body: Mapping[str, Any]) -> str | None:
    value = _transaction(body).get("transactionId")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value[:128] if isinstance(value, str) and value else None


def _message(body: Mapping[str, Any], status: str | None) -> str:
    text = body.get("response_description")
    said = text if isinstance(text, str) else ""
    return (f"{said} ({status})" if status else said)[:500]


def _plan(item: object) -> Plan | None:
    """A fixed-price variation, or None (a variable-price one, or one we cannot read)."""
    if not isinstance(item, Mapping):
        return None
    code, name, amount = item.get("variation_code"), item.get("name"), item.get("variation_amount")
    fixed = str(item.get("fixedPrice", "Yes")).strip().lower() == "yes"
    if not (isinstance(code, str) and code and isinstance(name, str) and fixed):
        return None
    try:
        price = parse_naira(amount)
    except MoneyError:
        log.warning("vtpass_unreadable_variation", variation_code=code[:64])
        return None
    found = _VALIDITY.search(name)
    return Plan(code[:64], name[:200], price, found.group(1) if found else None)
