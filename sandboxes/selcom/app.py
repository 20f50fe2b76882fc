"""The sandbox HTTP app: Selcom's process and query endpoints with real digest checks, signed
webhooks back to the API, and call counts for tests at /_sandbox/calls (`duplicate`: process
calls refused because the transid was already there)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from betfuz_common import jsonio
from betfuz_common.logging import get_logger
from betfuz_common.signatures import sign
from sandboxes.selcom.behaviours import (
    FAILURE_CODE,
    REFUSAL_REASON,
    Behaviour,
    Final,
    behaviour_for,
)
from topup import signing
from topup.config import TopupSettings

log = get_logger("sandbox.selcom")
PROCESS_FIELDS = ("transid", "utilitycode", "utilityref", "amount", "vendor", "pin", "msisdn")
MAX_CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True)
class SandboxConfig:
    api_key: str
    secret: bytes
    api_base_url: str
    fast: bool = False
    webhook_delay: float = 1.0
    timeout_sleep: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SandboxConfig:
        defaults = TopupSettings.DEV_DEFAULTS  # the dev stack's secrets must match the service's
        secret = env.get("SELCOM_API_SECRET") or defaults["SELCOM_API_SECRET"]
        fast = env.get("SANDBOX_SELCOM_FAST", "").lower() in ("1", "true", "yes")
        return cls(
            api_key=env.get("SELCOM_API_KEY") or defaults["SELCOM_API_KEY"],
            secret=secret.split(",")[0].strip().encode(),
            api_base_url=(env.get("API_BASE_URL") or defaults["API_BASE_URL"]).rstrip("/"),
            fast=fast,
            webhook_delay=0.0 if fast else float(env.get("SANDBOX_SELCOM_WEBHOOK_DELAY", "1.0")),
            timeout_sleep=float(env.get("SANDBOX_SELCOM_TIMEOUT_SLEEP", "15")),
        )


@dataclass
class Txn:
    transid: str
    reference: str
    behaviour: Behaviour
    status: str  # SUCCESS, FAILED or PENDING (until its webhook goes out)

    @property
    def code(self) -> str:
        if self.status == "SUCCESS":
            return "000"
        return FAILURE_CODE if self.status == "FAILED" else self.behaviour.first_code


@dataclass
class State:
    txns: dict[str, Txn] = field(default_factory=dict)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    lost: set[str] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def _answer(code: str, message: str, status_code: int = 200, **extra: Any) -> Response:
    result = "SUCCESS" if code == "000" else ("PENDING" if code in ("111", "927") else "FAIL")
    body = {"resultcode": code, "result": result, "message": message, "data": [], **extra}
    return JSONResponse(body, status_code=status_code)


def _invalid_fields(fields: Mapping[str, Any]) -> list[str]:
    """Field values the gateway would refuse, each said plainly (400, never a crash)."""
    problems = []
    amount = fields["amount"]
    try:
        number = Decimal(str(amount))
        valid_amount = not isinstance(amount, bool) and number.is_finite() and number > 0
    except InvalidOperation:
        valid_amount = False
    if not valid_amount:
        problems.append(f"amount must be a positive number, got {str(amount)[:32]!r}")
    for name in ("transid", "utilityref", "msisdn"):
        value = str(fields[name])
        if len(value) > 64 or not value.isascii() or not value.isprintable():
            problems.append(f"{name} must be 1-64 printable ASCII characters")
    return problems


def _check_signature(
    config: SandboxConfig, request: Request, fields: Mapping[str, Any]
) -> Response | None:
    """The gateway's checks, in its order; a wrong Digest is refused like the real one does."""
    headers = request.headers
    if headers.get("authorization") != signing.authorization(config.api_key):
        return _answer("401", "invalid Authorization", 401)
    if headers.get("digest-method") != signing.DIGEST_METHOD:
        return _answer("401", "unsupported Digest-Method", 401)
    stamp = headers.get("timestamp", "")
    try:
        skew = abs((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds())
    except (ValueError, TypeError):
        return _answer("401", "bad Timestamp", 401)
    if skew > MAX_CLOCK_SKEW_SECONDS:
        return _answer("401", "Timestamp too far from now", 401)
    order = [name for name in headers.get("signed-fields", "").split(",") if name]
    if not order or any(name not in fields for name in order):
        return _answer("401", "Signed-Fields do not match the request", 401)
    expected = signing.digest(config.secret, signing.signing_string(stamp, fields, order))
    if not hmac.compare_digest(expected, headers.get("digest", "")):
        return _answer("401", "invalid Digest", 401)
    return None


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

    async def send_webhook(client: httpx.AsyncClient, txn: Txn, final: Final) -> None:
        await asyncio.sleep(config.webhook_delay)
        txn.status = final
        body = jsonio.dumps(
            {
                "order_id": txn.transid,
                "status": final,
                "reference_id": txn.reference,
                "result_code": "0000" if final == "SUCCESS" else "0" + FAILURE_CODE,
                "result_description": "Topup successful"
                if final == "SUCCESS"
                else f"Topup failed: {REFUSAL_REASON}",
            }
        )
        headers = {
            "Content-Type": "application/json",
            "X-Selcom-Signature": sign(body, config.secret, "sha256"),
        }
        for attempt in range(5):
            state.calls[("webhook", txn.transid)] += 1
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.post(
                    config.api_base_url + "/topup/webhook", content=body, headers=headers
                )
                if answer.status_code < 500:
                    log.info("webhook_sent", transid=txn.transid, status=answer.status_code)
                    return
            await asyncio.sleep(0.2 * 2**attempt)
        log.warning("webhook_gave_up", transid=txn.transid)

    async def process(request: Request) -> Response:
        try:
            fields = jsonio.loads(await request.body())
        except jsonio.JsonError:
            return _answer("400", "malformed JSON", 400)
        if not isinstance(fields, dict):
            return _answer("400", "expected a JSON object", 400)
        refused = _check_signature(config, request, fields)
        if refused is not None:
            return refused
        missing = [name for name in PROCESS_FIELDS if fields.get(name) in (None, "")]
        if missing:
            return _answer("400", f"missing {', '.join(missing)}", 400)
        invalid = _invalid_fields(fields)
        if invalid:
            return _answer("400", "; ".join(invalid), 400)
        transid = str(fields["transid"])
        state.calls[("process", transid)] += 1
        if transid in state.txns:
            # Nothing is done again, and the first answer is not repeated: like other gateways,
            # the repeat is refused. Only the query says what became of the order.
            state.calls[("duplicate", transid)] += 1
            return _answer("409", "duplicate transid", 409)
        behaviour = behaviour_for(str(fields["utilityref"]))
        if behaviour.lost_once and transid not in state.lost:
            state.lost.add(transid)
            return Response("upstream unavailable", status_code=503)
        txn = Txn(transid, "SELCOM-" + secrets.token_hex(6).upper(), behaviour, "PENDING")
        state.txns[transid] = txn
        if behaviour.webhook:
            task = asyncio.create_task(send_webhook(request.app.state.client, txn, behaviour.final))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)
            return _answer(txn.code, behaviour.message, reference=txn.reference)
        if behaviour.first_code != "999":
            txn.status = behaviour.final
        else:
            # Ambiguous answer now; the query knows the final status.
            code = txn.code
            txn.status = behaviour.final
            return _answer(code, behaviour.message, reference=txn.reference)
        if behaviour.timeout:
            if config.fast:
                return Response("gateway timeout", status_code=504)
            await asyncio.sleep(config.timeout_sleep)
        return _answer(txn.code, behaviour.message, reference=txn.reference)

    async def query(request: Request) -> Response:
        fields = dict(request.query_params)
        refused = _check_signature(config, request, fields)
        if refused is not None:
            return refused
        transid = fields.get("transid", "")
        if not transid:
            return _answer("400", "transid is required: /v1/utilitypayment/query?transid=…", 400)
        state.calls[("query", transid)] += 1
        txn = state.txns.get(transid)
        if txn is None or state.calls[("query", transid)] <= txn.behaviour.query_lag:
            return _answer("404", f"transaction {transid} not found")
        item = {
            "transid": txn.transid,
            "reference": txn.reference,
            "status": txn.status,
            "resultcode": txn.code,
            "message": (
                txn.behaviour.final_message if txn.status != "PENDING" else "transaction pending"
            ),
        }
        return _answer("000", "query ok", data=[item])

    async def calls(request: Request) -> Response:
        transid = request.query_params.get("transid", "")
        if not transid:
            return JSONResponse(
                {"message": "transid is required: /_sandbox/calls?transid=<the topup's reference>"},
                status_code=400,
            )
        kinds = ("process", "duplicate", "query", "webhook")
        counts = {kind: state.calls[(kind, transid)] for kind in kinds}
        txn = state.txns.get(transid)
        return JSONResponse({"transid": transid, **counts, "status": txn.status if txn else None})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/utilitypayment/process", process, methods=["POST"]),
            Route("/v1/utilitypayment/query", query, methods=["GET"]),
            Route("/_sandbox/calls", calls, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
