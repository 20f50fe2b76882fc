"""The sandbox HTTP app: VTpass's pay, requery and service-variations endpoints behind Basic
auth, UNSIGNED transaction notifications back to the API (as VTpass sends them), and call
counts for tests at /_sandbox/calls?request_id=…"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from betfuz_common import jsonio
from betfuz_common.logging import get_logger
from sandboxes.vtpass.behaviours import VARIATIONS, Behaviour, behaviour_for
from topup.config import TopupSettings
from topup.vtpass import LAGOS, REQUEST_ID_STAMP

log = get_logger("sandbox.vtpass")
DESCRIPTIONS = {
    "000": "TRANSACTION SUCCESSFUL",
    "099": "TRANSACTION IS PROCESSING",
    "010": "VARIATION CODE DOES NOT EXIST",
    "011": "INVALID ARGUMENTS",
    "014": "REQUEST ID ALREADY EXIST",
    "015": "INVALID REQUEST ID",
    "085": "IMPROPER REQUEST ID: DOES NOT CONTAIN DATE",
    "087": "INVALID CREDENTIALS",
    "091": "TRANSACTION NOT PROCESSED",
}


@dataclass(frozen=True)
class SandboxConfig:
    username: str
    password: str
    api_base_url: str
    notify_delay: float = 1.0
    timeout_sleep: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SandboxConfig:
        defaults = TopupSettings.DEV_DEFAULTS  # the dev stack's credentials are the service's
        return cls(
            username=env.get("VTPASS_USERNAME") or defaults["VTPASS_USERNAME"],
            password=env.get("VTPASS_PASSWORD") or defaults["VTPASS_PASSWORD"],
            api_base_url=(env.get("API_BASE_URL") or defaults["API_BASE_URL"]).rstrip("/"),
            notify_delay=float(env.get("SANDBOX_VTPASS_NOTIFY_DELAY", "1.0")),
            timeout_sleep=float(env.get("SANDBOX_VTPASS_TIMEOUT_SLEEP", "15")),
        )


@dataclass
class Txn:
    request_id: str
    transaction_id: str
    behaviour: Behaviour
    service_id: str
    phone: str
    amount: Decimal
    status: str  # what a requery says now
    notified: bool = False


@dataclass
class State:
    txns: dict[str, Txn] = field(default_factory=dict)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def _answer(
    code: str, txn: Txn | None = None, status: str | None = None, http: int = 200
) -> Response:
    body: dict[str, Any] = {"code": code, "response_description": DESCRIPTIONS.get(code, code)}
    if txn is not None:
        body["content"] = {"transactions": _transaction(txn, status or txn.status)}
        body["requestId"] = txn.request_id
        body["amount"] = str(txn.amount)
        body["transaction_date"] = datetime.now(UTC).isoformat()
    return JSONResponse(body, status_code=http)


def _transaction(txn: Txn, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "product_name": txn.service_id,
        "unique_element": txn.phone,
        "unit_price": str(txn.amount),
        "quantity": 1,
        "type": "Data Services" if txn.service_id.endswith("-data") else "Airtime Recharge",
        "amount": str(txn.amount),
        "transactionId": txn.transaction_id,
    }


class HangUp(Response):
    """Starts an answer, then drops the connection half-way: the client gets no answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"200")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"code": "0', "more_body": True})
        raise ConnectionAbortedError("sandbox hang-up")


def _authorised(config: SandboxConfig, request: Request) -> bool:
    expected = "Basic " + base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
    return hmac.compare_digest(request.headers.get("authorization", ""), expected)


def _dated(request_id: str) -> bool:
    """VTpass's rule: the first 12 characters are the Lagos date and time, near now."""
    if len(request_id) < 12 or len(request_id) > 64 or not request_id.isascii():
        return False
    try:
        stamp = datetime.strptime(request_id[:12], REQUEST_ID_STAMP).replace(tzinfo=LAGOS)
    except ValueError:
        return False
    return abs(datetime.now(UTC) - stamp) < timedelta(days=1)


def create_app(config: SandboxConfig) -> Starlette:
    state = State()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10) as client:
            app.state.client = client
            yield
            for task in list(state.tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def notify(client: httpx.AsyncClient, txn: Txn) -> None:
        await asyncio.sleep(config.notify_delay)
        txn.status, txn.notified = "delivered", True
        body = {
            "type": "transaction-update",
            "data": {
                "code": "000",
                "content": {"transactions": _transaction(txn, "delivered")},
                "response_description": DESCRIPTIONS["000"],
                "requestId": txn.request_id,
                "amount": str(txn.amount),
            },
        }
        for attempt in range(5):
            state.calls[("notification", txn.request_id)] += 1
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.post(
                    config.api_base_url + "/topup/webhook/vtpass",
                    content=jsonio.dumps(body),
                    headers={"Content-Type": "application/json"},  # unsigned, as VTpass's
                )
                if answer.status_code < 500:
                    log.info("notification_sent", request_id=txn.request_id)
                    return
            await asyncio.sleep(0.2 * 2**attempt)
        log.warning("notification_gave_up", request_id=txn.request_id)

    async def read(request: Request) -> dict[str, Any] | Response:
        if not _authorised(config, request):
            return _answer("087", http=401)
        try:
            fields = jsonio.loads(await request.body())
        except jsonio.JsonError:
            return _answer("011", http=400)
        return fields if isinstance(fields, dict) else _answer("011", http=400)

    async def pay(request: Request) -> Response:
        fields = await read(request)
        if isinstance(fields, Response):
            return fields
        request_id, service_id = fields.get("request_id"), fields.get("serviceID")
        phone, amount = fields.get("phone"), fields.get("amount")
        if not (
            isinstance(request_id, str) and isinstance(service_id, str) and isinstance(phone, str)
        ):
            return _answer("011")
        state.calls[("pay", request_id)] += 1
        if not _dated(request_id):
            return _answer("085")
        if request_id in state.txns:
            state.calls[("duplicate", request_id)] += 1
            return _answer("014")
        try:
            price = Decimal(str(amount))
        except InvalidOperation:
            return _answer("011")
        if service_id.endswith("-data"):
            plans = {v["variation_code"]: v for v in VARIATIONS.get(service_id, [])}
            plan = plans.get(str(fields.get("variation_code")))
            if plan is None or fields.get("billersCode") != phone:
                return _answer("010")
            price = Decimal(plan["variation_amount"])  # a fixed-price plan costs its price
        behaviour = behaviour_for(phone)
        if behaviour.requery_status is None:  # not processed: VTpass keeps nothing
            return _answer(behaviour.pay_code)
        txn = Txn(
            request_id,
            str(secrets.randbelow(10**17) + 10**17),
            behaviour,
            service_id,
            phone,
            price,
            status=behaviour.pay_status or "pending",
        )
        state.txns[request_id] = txn
        if behaviour.notify:
            task = asyncio.create_task(notify(request.app.state.client, txn))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)
            return _answer(behaviour.pay_code)
        if not behaviour.reverses_later:
            txn.status = behaviour.requery_status
        if behaviour.hang_up:
            return HangUp()
        if behaviour.timeout:
            await asyncio.sleep(config.timeout_sleep)
            return _answer("000", txn)
        if behaviour.unexpected:
            return JSONResponse({"code": behaviour.pay_code, "response_description": "ODD"})
        if behaviour.pay_code == "000":
            return _answer("000", txn, behaviour.pay_status)
        return _answer(behaviour.pay_code)

    async def requery(request: Request) -> Response:
        fields = await read(request)
        if isinstance(fields, Response):
            return fields
        request_id = str(fields.get("request_id", ""))
        state.calls[("requery", request_id)] += 1
        txn = state.txns.get(request_id)
        if txn is None:
            return _answer("015")
        if txn.behaviour.reverses_later:
            txn.status = txn.behaviour.requery_status or txn.status
        return _answer("000", txn)

    async def variations(request: Request) -> Response:
        if not _authorised(config, request):
            return _answer("087", http=401)
        service_id = request.query_params.get("serviceID", "")
        plans = VARIATIONS.get(service_id)
        if plans is None:
            return _answer("012")
        content = {"ServiceName": service_id, "serviceID": service_id, "variations": plans}
        return JSONResponse({"response_description": "000", "content": content})

    async def calls(request: Request) -> Response:
        request_id = request.query_params.get("request_id", "")
        if not request_id:
            return JSONResponse({"message": "request_id is required"}, status_code=400)
        kinds = ("pay", "duplicate", "requery", "notification")
        counts = {kind: state.calls[(kind, request_id)] for kind in kinds}
        txn = state.txns.get(request_id)
        return JSONResponse(
            {"request_id": request_id, **counts, "status": txn.status if txn else None}
        )

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/api/pay", pay, methods=["POST"]),
            Route("/api/requery", requery, methods=["POST"]),
            Route("/api/service-variations", variations, methods=["GET"]),
            Route("/_sandbox/calls", calls, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
