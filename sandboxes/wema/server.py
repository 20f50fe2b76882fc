"""The sandbox's HTTP API.

Bank side (what the treasury service calls):
    POST /v1/virtual-accounts      x-api-key + X-Wema-Signature checked; dedupes on `reference`
    GET  /v1/transactions?from=&to=&page=
                                   x-api-key checked; every deposit the sandbox made (notified
                                   or not) with from <= transaction_date < to, oldest first,
                                   $WEMA_SANDBOX_PAGE_SIZE (default 50) a page
Test side:
    GET  /_sandbox/calls[?email=]  creation calls received and distinct accounts opened
    POST /_sandbox/fail-next       {"mode": "timeout"|"error"|"reject", "times": 1,
                                    "delay_seconds": 5}: what the next creations do
    POST /_sandbox/deposits        {"account_number", "amount", "duplicates": 1, "deposits": 1,
                                    "reference"?, "out_of_order": false, "concurrency": 50,
                                    "bad_signature": false, "notify": true}: signed
                                    webhooks to $API_BASE_URL/treasury/webhook, answered with
                                    the counts; "notify": false makes the deposits (they are
                                    listed) and sends no webhook
    POST /_sandbox/notify          {"reference", "duplicates": 1}: send now the webhook of a
                                    deposit made earlier (a late notification)
    POST /_sandbox/listing-fail-next {"mode": "timeout"|"error"|"garbage", "times": 1,
                                    "delay_seconds": 5}: what the next listing pages do

With $WEMA_SANDBOX_STATE_PATH set, the accounts and the deposits are saved to that file after
every change (before any webhook goes out) and read back at start: a sandbox process killed and
started again still lists every deposit it made, as a bank would (the chaos test kills it).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from betfuz_common import jsonio
from betfuz_common.settings import load_settings, secret_list
from betfuz_common.signatures import verify
from sandboxes.wema.accounts import Bank, Call
from sandboxes.wema.orders import LISTING_FAIL_MODES, OrderError, deposit_order, fail_order
from sandboxes.wema.webhooks import build_deposits, deliver, delivery_order
from treasury.config import TreasurySettings


@dataclass(frozen=True)
class SandboxConfig:
    api_key: str
    secrets: list[bytes]
    webhook_url: str
    page_size: int = 50
    state_path: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SandboxConfig:
        """The bank's side of the treasury's own settings, read by the treasury's own loader:
        the same variables, the same dev defaults, the same rotation list, so whatever key and
        secret a developer sets for the service, the sandbox holds too."""
        settings = load_settings(TreasurySettings, env)
        return cls(
            api_key=settings.wema_api_key.get_secret_value(),
            secrets=secret_list(settings.wema_secret_key),
            webhook_url=settings.api_base_url.rstrip("/") + "/treasury/webhook",
            page_size=max(1, int(env.get("WEMA_SANDBOX_PAGE_SIZE", "50"))),
            state_path=Path(env["WEMA_SANDBOX_STATE_PATH"])
            if env.get("WEMA_SANDBOX_STATE_PATH")
            else None,
        )


def _json(content: Any, status: int = 200) -> Response:
    return Response(jsonio.dumps(content), status, media_type="application/json")


def _failed(message: str, status: int, **extra: Any) -> Response:
    return _json({"status": "failed", "message": message, **extra}, status)


async def _order(request: Request) -> Any:
    """The JSON body of a test-side request; OrderError when it is not JSON at all."""
    try:
        return jsonio.loads(await request.body())
    except jsonio.JsonError as exc:
        raise OrderError([f"the body is not JSON: {exc}"]) from None


def _refused(exc: OrderError) -> Response:
    return _failed(str(exc), 400, problems=exc.problems)


_BVN = re.compile(r"^[0-9]{11}$")
_PAGE = re.compile(r"^[1-9][0-9]{0,8}$", re.ASCII)


def _moment(text: str | None) -> datetime | None:
    """An RFC 3339 instant with its offset, or None."""
    if text is None or not text.isascii() or len(text) > 40:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def listed_between(bank: Bank, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The bank's deposits dated in [start, end), oldest first (then by reference)."""
    chosen = [
        (datetime.fromisoformat(d["transaction_date"]), d["transaction_reference"], d)
        for d in bank.deposits
    ]
    return [d for when, _, d in sorted(chosen, key=lambda c: c[:2]) if start <= when < end]


def create_app(config: SandboxConfig, bank: Bank | None = None) -> Starlette:
    if bank is None:
        bank = Bank.load(config.state_path) if config.state_path else Bank()

    def remember() -> None:
        if config.state_path is not None:
            bank.save(config.state_path)

    async def create_virtual_account(request: Request) -> Response:
        raw = await request.body()
        if request.headers.get("x-api-key") != config.api_key:
            return _failed("invalid API key", 401)
        if not verify(raw, request.headers.get("x-wema-signature"), config.secrets, "sha512"):
            return _failed("invalid signature", 401)
        try:
            body = jsonio.loads(raw)
            reference, bvn = str(body["reference"]), str(body["bvn"])
            first, last, email = str(body["firstName"]), str(body["lastName"]), str(body["email"])
        except (jsonio.JsonError, KeyError, TypeError):
            return _failed("reference, bvn, firstName, lastName and email are required", 400)
        if not _BVN.fullmatch(bvn):
            return _failed("bvn must be 11 digits", 400)
        bank.calls.append(Call(reference=reference, email=email))
        failure = bank.next_failure()
        if failure is not None:
            mode, delay = failure
            if mode == "error":
                return _failed("temporary failure", 503)
            if mode == "reject":
                return _failed("BVN details do not match", 400)
            # "timeout": the account IS opened, but the answer comes too late to be read.
            bank.open(reference, first, last)
            remember()
            await asyncio.sleep(delay)
        account = bank.open(reference, first, last)
        remember()
        return _json({"status": "success", "data": account})

    async def list_transactions(request: Request) -> Response:
        if request.headers.get("x-api-key") != config.api_key:
            return _failed("invalid API key", 401)
        query = request.query_params
        start, end = _moment(query.get("from")), _moment(query.get("to"))
        page = query.get("page", "1")
        if start is None or end is None or not _PAGE.fullmatch(page):
            return _failed("from and to must be RFC 3339 instants, page a whole number >= 1", 400)
        failure = bank.next_listing_failure()
        if failure is not None:
            mode, delay = failure
            if mode == "error":
                return _failed("temporary failure", 500)
            if mode == "garbage":
                return Response(b"<html>upstream maintenance</html>", 200)
            await asyncio.sleep(delay)  # "timeout": the answer comes too late to be read
        items = listed_between(bank, start, end)
        first = (int(page) - 1) * config.page_size
        shown = items[first : first + config.page_size]
        more = first + config.page_size < len(items)
        data = {"items": shown, "nextPage": int(page) + 1 if more else None}
        return _json({"status": "success", "data": data})

    async def notify(request: Request) -> Response:
        try:
            order = await _order(request)
        except OrderError as exc:
            return _refused(exc)
        reference = order.get("reference") if isinstance(order, dict) else None
        made = [d for d in bank.deposits if d["transaction_reference"] == reference]
        if not made:
            return _failed("no deposit was made under that reference", 404)
        times = order.get("duplicates", 1)
        if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 100:
            return _failed("duplicates must be a whole number from 1 to 100", 400)
        result = await deliver(config.webhook_url, config.secrets[0], made * times, concurrency=10)
        return _json({"references": [reference], **result})

    async def listing_fail_next(request: Request) -> Response:
        try:
            mode, delay, times = fail_order(await _order(request), LISTING_FAIL_MODES)
        except OrderError as exc:
            return _refused(exc)
        bank.listing_failures.extend([(mode, delay)] * times)
        return _json({"queued": len(bank.listing_failures)})

    async def calls(request: Request) -> Response:
        email = request.query_params.get("email")
        chosen = [c for c in bank.calls if email is None or c.email == email]
        references = sorted({c.reference for c in chosen})
        opened = [r for r in references if r in bank.by_reference]
        return _json(
            {
                "creates": len(chosen),
                "references": references,
                "accounts": [bank.by_reference[r] for r in opened],
            }
        )

    async def fail_next(request: Request) -> Response:
        try:
            mode, delay, times = fail_order(await _order(request))
        except OrderError as exc:
            return _refused(exc)
        bank.failures.extend([(mode, delay)] * times)
        return _json({"queued": len(bank.failures)})

    async def deposits(request: Request) -> Response:
        try:
            order = deposit_order(await _order(request))
        except OrderError as exc:
            return _refused(exc)
        payloads = build_deposits(order)
        bank.deposits.extend(payloads)  # the bank made them, whatever becomes of the webhooks
        remember()
        made = {
            "references": [p["transaction_reference"] for p in payloads],
            "transaction_dates": [p["transaction_date"] for p in payloads],
        }
        if not order.get("notify", True):
            return _json({**made, "deliveries": 0, "statuses": {}, "outcomes": {}})
        deliveries = delivery_order(
            payloads, int(order.get("duplicates", 1)), bool(order.get("out_of_order", False))
        )
        result = await deliver(
            config.webhook_url,
            config.secrets[0],
            deliveries,
            concurrency=max(1, int(order.get("concurrency", 50))),
            bad_signature=bool(order.get("bad_signature", False)),
        )
        return _json({**made, **result})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/virtual-accounts", create_virtual_account, methods=["POST"]),
            Route("/v1/transactions", list_transactions, methods=["GET"]),
            Route("/_sandbox/listing-fail-next", listing_fail_next, methods=["POST"]),
            Route("/_sandbox/notify", notify, methods=["POST"]),
            Route("/_sandbox/calls", calls, methods=["GET"]),
            Route("/_sandbox/fail-next", fail_next, methods=["POST"]),
            Route("/_sandbox/deposits", deposits, methods=["POST"]),
        ]
    )
