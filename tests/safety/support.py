"""What the safety tests share: a private event loop, both services in-process on the real
database, a Selcom whose outcomes the test controls, signed webhooks, and the money checks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from starlette.applications import Starlette

from betfuz_common import jsonio
from betfuz_common.db import create_pool
from betfuz_common.settings import load_settings
from betfuz_common.signatures import sign
from betfuz_testing.processes import stop, wait_until_healthy
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer
from sandboxes.selcom.behaviours import Behaviour, behaviour_for
from sandboxes.wema.accounts import Bank
from sandboxes.wema.server import SandboxConfig
from sandboxes.wema.server import create_app as create_wema_sandbox
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, days_ago, settings_env
from topup.app import create_app as create_topup_app
from topup.config import TopupSettings
from topup.ports import TopupPorts
from treasury.app import create_app as create_treasury_app
from treasury.config import TreasurySettings

T = TypeVar("T")
SELCOM_SECRET = "safety-selcom-secret"


class LoopThread:
    """An event loop on its own thread, so synchronous hypothesis tests can drive async apps
    (hypothesis rules are plain functions; pytest's session loop is not ours to block)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


# --- Selcom with outcomes the test decides ---------------------------------------------------


@dataclass
class ProviderTxn:
    transid: str
    behaviour: Behaviour
    final: bool  # Selcom has decided (a query now says SUCCESS/FAILED)


_DUPLICATE = {"result": "FAIL", "message": "duplicate transid"}
# How gateways answer a process call whose transid they already have. None of them repeats the
# first result: an error code (documented or not), an HTTP 4xx (one carrying a final-failure
# code in its body), or a body nobody can read.
DUPLICATE_ANSWERS: dict[str, tuple[int, dict[str, Any] | bytes]] = {
    "http_409": (409, {"resultcode": "409", **_DUPLICATE}),
    "http_409_final_code": (409, {"resultcode": "051", **_DUPLICATE}),
    "http_400": (400, {"resultcode": "400", "message": "transid already used"}),
    "http_422_no_code": (422, {"error": "duplicate reference"}),
    "code_094": (200, {"resultcode": "094", **_DUPLICATE}),
    "code_409": (200, {"resultcode": "409", **_DUPLICATE}),
    "unreadable": (200, b"<html>duplicate transid</html>"),
}


@dataclass
class ControllableSelcom:
    """Selcom's protocol on an httpx.MockTransport; outcome by the number topped up, exactly as
    sandboxes/selcom/behaviours.py documents. The in-progress numbers (111/927) stay undecided
    until the test calls `finish`. Timeouts raise at once instead of sleeping. The query may lag
    (answer "not found" for an order it has): by the number's behaviour, or for any transid the
    test puts in `lagging`. A re-submitted transid is answered as `duplicate_answer` says."""

    txns: dict[str, ProviderTxn] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)
    lagging: set[str] = field(default_factory=set)
    duplicate_answer: str = "http_409"
    queries: Counter[str] = field(default_factory=Counter)  # by transid
    calls: Counter[str] = field(default_factory=Counter)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/process"):
            return self._process(request)
        return self._query(request.url.params["transid"])

    def lags(self, transid: str) -> bool:
        """Whether the next query of this known transid will answer "not found"."""
        txn = self.txns.get(transid)
        if txn is None:
            return False
        return transid in self.lagging or self.queries[transid] < txn.behaviour.query_lag

    def _process(self, request: httpx.Request) -> httpx.Response:
        body = jsonio.loads(request.content)
        transid, behaviour = body["transid"], behaviour_for(body["utilityref"])
        self.calls["process"] += 1
        if transid in self.txns:  # nothing done again; the refusal says nothing of the result
            self.calls["process_duplicate_" + self.duplicate_answer] += 1
            status, answer = DUPLICATE_ANSWERS[self.duplicate_answer]
            if isinstance(answer, bytes):
                return httpx.Response(status, content=answer)
            return httpx.Response(status, json=answer)
        if behaviour.lost_once and transid not in self.lost:
            self.lost.add(transid)
            self.calls["fault_lost"] += 1
            return httpx.Response(503, json={"message": "upstream unavailable"})
        txn = ProviderTxn(transid, behaviour, final=not behaviour.webhook)
        self.txns[transid] = txn
        if behaviour.timeout:
            self.calls["fault_timeout"] += 1
            raise httpx.ReadTimeout("Selcom did not answer in time", request=request)
        if behaviour.first_code in ("111", "927", "999"):
            self.calls["fault_in_progress_or_ambiguous"] += 1
            return _answer(behaviour.first_code, transid)
        return _answer(self._code(txn), transid)

    def _query(self, transid: str) -> httpx.Response:
        self.calls["query"] += 1
        lagging = self.lags(transid)
        self.queries[transid] += 1
        txn = self.txns.get(transid)
        if txn is None or lagging:
            self.calls["query_lagging" if lagging else "query_not_found"] += 1
            return httpx.Response(200, json={"resultcode": "404", "message": "not found"})
        status = txn.behaviour.final if txn.final else "PENDING"
        item = {"status": status, "reference": "SEL-" + transid}
        return httpx.Response(200, json={"resultcode": "000", "data": [item]})

    @staticmethod
    def _code(txn: ProviderTxn) -> str:
        if not txn.final:
            return txn.behaviour.first_code
        return "000" if txn.behaviour.final == "SUCCESS" else "051"

    def finish(self, transid: str) -> None:
        self.txns[transid].final = True


def _answer(code: str, transid: str) -> httpx.Response:
    return httpx.Response(
        200, json={"resultcode": code, "reference": "SEL-" + transid, "message": "sandbox"}
    )


# VTpass: glo airtime goes to VTpass first, Selcom behind it (every other pair: Selcom alone).
VTPASS_ROUTES = ";".join(
    f"{carrier}:{kind}=vtpass,selcom" if (carrier, kind) == ("glo", "airtime")
    else f"{carrier}:{kind}=selcom"
    for carrier in ("mtn", "airtel", "glo", "9mobile")
    for kind in ("airtime", "data")
)  # fmt: skip


@dataclass
class ControllableVtpass:
    """VTpass's pay and requery on an httpx.MockTransport. What a pay answers is set per number
    before the purchase (`answers[phone] = (answer, truth)`): delivered, failed, not_processed
    (091), processing (099) or timeout; the requery then always tells the truth. A request_id
    it already has is answered 014; one it never took, 015."""

    answers: dict[str, tuple[str, str]] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)  # request_id -> truth
    calls: Counter[str] = field(default_factory=Counter)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        fields = jsonio.loads(request.content)
        request_id = fields["request_id"]
        if request.url.path == "/api/requery":
            self.calls["requery"] += 1
            truth = self.orders.get(request_id)
            return _vtpass("015") if truth is None else _vtpass("000", truth)
        self.calls["pay"] += 1
        if request_id in self.orders:
            return _vtpass("014")
        answer, truth = self.answers[fields["phone"]]
        if answer == "not_processed":
            return _vtpass("091")
        self.orders[request_id] = truth
        if answer == "timeout":
            raise httpx.ReadTimeout("sandbox timeout", request=request)
        if answer == "processing":
            return _vtpass("099")
        return _vtpass("000", truth)


def _vtpass(code: str, truth: str | None = None) -> httpx.Response:
    status = {"completed": "delivered", "failed": "failed"}.get(truth or "")
    content = {"transactions": {"status": status, "transactionId": "VT"}} if status else {}
    return httpx.Response(200, json={"code": code, "content": content})


# --- both services in-process ----------------------------------------------------------------


def topup_settings(database_url: str) -> TopupSettings:
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "SELCOM_API_SECRET": SELCOM_SECRET,
        "SELCOM_BASE_URL": "https://selcom.test",
        "TOPUP_RECONCILE_INTERVAL_SECONDS": "0",  # ticks are steps the test drives
        "TOPUP_ROUTES": VTPASS_ROUTES,
        "TOPUP_BREAKER_THRESHOLD": "1000000",  # the machine's refusals are answers, not outages
    }
    return load_settings(TopupSettings, env)


def treasury_settings(database_url: str) -> TreasurySettings:
    return load_settings(TreasurySettings, settings_env(database_url))


@dataclass
class Services:
    topup_app: Starlette
    topup: httpx.AsyncClient
    treasury: httpx.AsyncClient
    selcom: ControllableSelcom
    pool: asyncpg.Pool
    vtpass: ControllableVtpass = field(default_factory=ControllableVtpass)

    @property
    def topup_ports(self) -> TopupPorts:
        ports: TopupPorts = self.topup_app.state.ports
        return ports


@asynccontextmanager
async def services(database_url: str) -> AsyncIterator[Services]:
    """The real topup and treasury apps (real create_app, real lifespan, real database); Selcom
    controllable, Wema the repository's own sandbox app served in-process."""
    selcom, vtpass = ControllableSelcom(), ControllableVtpass()
    async with AsyncExitStack() as stack:
        topup_app = create_topup_app(
            topup_settings(database_url),
            selcom_transport=selcom.transport(),
            vtpass_transport=vtpass.transport(),
        )
        await stack.enter_async_context(topup_app.router.lifespan_context(topup_app))
        wema = create_wema_sandbox(
            SandboxConfig(WEMA_KEY, [WEMA_SECRET.encode()], "http://betfuz.test/treasury/webhook"),
            Bank(),
        )
        treasury_app = create_treasury_app(
            treasury_settings(database_url), wema_transport=httpx.ASGITransport(app=wema)
        )
        await stack.enter_async_context(treasury_app.router.lifespan_context(treasury_app))
        topup = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=topup_app), base_url="http://topup.test"
            )
        )
        treasury = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=treasury_app), base_url="http://treasury.test"
            )
        )
        pool = await create_pool(database_url, min_size=1, max_size=5)
        stack.push_async_callback(pool.close)
        yield Services(topup_app, topup, treasury, selcom, pool, vtpass)


# --- requests --------------------------------------------------------------------------------


def selcom_webhook(order_id: str, status: str) -> tuple[bytes, dict[str, str]]:
    body = jsonio.dumps(
        {
            "order_id": order_id,
            "status": status,
            "reference_id": "SEL-" + order_id,
            "result_code": "000" if status == "SUCCESS" else "051",
            "result_description": "safety suite",
        }
    )
    return body, {
        "content-type": "application/json",
        "x-selcom-signature": sign(body, SELCOM_SECRET.encode(), "sha256"),
    }


def wema_deposit(
    account_number: str, amount: Decimal, reference: str
) -> tuple[bytes, dict[str, str]]:
    body = jsonio.dumps(
        {
            "account_number": account_number,
            "amount": amount,
            "transaction_reference": reference,
            "sender_name": "SAFETY SUITE",
            "sender_account": "9876543210",
            "sender_bank": "Access Bank",
            "narration": "deposit",
            "transaction_date": days_ago(1),
        }
    )
    return body, {
        "content-type": "application/json",
        "x-wema-signature": sign(body, WEMA_SECRET.encode(), "sha512"),
    }


def account_body() -> dict[str, str]:
    return {
        "bvn": f"{uuid.uuid4().int % 10**11:011d}",
        "firstName": "Ada",
        "lastName": "Obi",
        "phoneNumber": "+2348012345678",
        "email": f"{uuid.uuid4().hex[:12]}@example.com",
    }


async def open_account(svc: Services, user_id: str) -> str:
    response = await svc.treasury.post(
        "/treasury/accounts", json=account_body(), headers=bearer(user_id)
    )
    assert response.status_code == 201, response.text
    number: str = response.json()["accountNumber"]
    return number


# --- the money checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class UserLedger:
    balance: Decimal
    deposits: Decimal  # credited bank transactions
    open_or_completed: Decimal  # topups pending or completed (failed ones were refunded)
    refunded: Decimal
    failed: Decimal
    topups: int
    refunds: int
    ops_credits: Decimal = Decimal(0)  # held deposits an ops user credited, on approval


async def ledger_of(conn: asyncpg.Pool | asyncpg.Connection, user_id: str) -> UserLedger:
    row = await conn.fetchrow(
        """
        SELECT
          (SELECT balance FROM public.users WHERE id = $1) AS balance,
          (SELECT coalesce(sum(amount), 0) FROM treasury.bank_transactions
            WHERE user_id = $1 AND type = 'credit') AS deposits,
          (SELECT coalesce(sum(amount), 0) FROM topup.topup_transactions
            WHERE user_id = $1 AND status IN ('pending', 'completed')) AS open_or_completed,
          (SELECT coalesce(sum(amount), 0) FROM topup.topup_transactions
            WHERE user_id = $1 AND status = 'failed') AS failed,
          (SELECT coalesce(sum(amount), 0) FROM topup.refunds WHERE user_id = $1) AS refunded,
          (SELECT count(*) FROM topup.topup_transactions WHERE user_id = $1) AS topups,
          (SELECT count(*) FROM topup.refunds WHERE user_id = $1) AS refunds,
          (SELECT coalesce(sum(amount), 0) FROM treasury.deposit_resolutions
            WHERE user_id = $1 AND outcome = 'credited') AS ops_credits
        """,
        user_id,
    )
    assert row is not None
    return UserLedger(
        balance=row["balance"],
        deposits=row["deposits"],
        open_or_completed=row["open_or_completed"],
        refunded=row["refunded"],
        failed=row["failed"],
        topups=row["topups"],
        refunds=row["refunds"],
        ops_credits=row["ops_credits"],
    )


def money_lost(initial: Decimal, ledger: UserLedger) -> Decimal:
    """How far the wallet is from what its records explain (0 when conservation holds)."""
    expected = initial + ledger.deposits - ledger.open_or_completed + ledger.ops_credits
    return abs(ledger.balance - expected) + abs(ledger.refunded - ledger.failed)


async def account_drift(conn: asyncpg.Pool | asyncpg.Connection, user_ids: list[str]) -> Decimal:
    """Σ |bank_accounts.balance − Σ its credited deposits| over these users' accounts."""
    value: Decimal = await conn.fetchval(
        """
        SELECT coalesce(sum(abs(a.balance - coalesce(t.total, 0))), 0)
        FROM treasury.bank_accounts a
        LEFT JOIN (SELECT bank_account_id, sum(amount) AS total FROM treasury.bank_transactions
                   WHERE type = 'credit' GROUP BY bank_account_id) t ON t.bank_account_id = a.id
        WHERE a.user_id = ANY($1::text[])
        """,
        user_ids,
    )
    return value


async def applied_twice(conn: asyncpg.Pool | asyncpg.Connection, user_ids: list[str]) -> int:
    """References that moved money more than once (each must move it at most once), an ops
    credit of a deposit a delivery also credited among them."""
    value: int = await conn.fetchval(
        """
        SELECT
          (SELECT count(*) FROM (
             SELECT e.order_id FROM topup.webhook_events e
             JOIN topup.topup_transactions t ON t.reference = e.order_id
             WHERE t.user_id = ANY($1::text[]) AND e.outcome = 'applied'
             GROUP BY e.order_id HAVING count(*) > 1) w)
        + (SELECT count(*) FROM (
             SELECT transaction_reference FROM treasury.bank_transactions
             WHERE user_id = ANY($1::text[])
             GROUP BY transaction_reference HAVING count(*) > 1) b)
        + (SELECT count(*) FROM (
             SELECT reference FROM topup.topup_transactions WHERE user_id = ANY($1::text[])
             GROUP BY reference HAVING count(*) > 1) r)
        + (SELECT count(*) FROM topup.refunds f JOIN topup.topup_transactions t
             ON t.id = f.topup_id
           WHERE t.user_id = ANY($1::text[]) AND (t.status <> 'failed' OR f.amount <> t.amount))
        + (SELECT count(*) FROM treasury.deposit_resolutions r
             JOIN treasury.bank_transactions b USING (transaction_reference)
           WHERE r.user_id = ANY($1::text[]) AND r.outcome = 'credited')
        """,
        user_ids,
    )
    return value


# --- a service process that can be killed ---------------------------------------------------


class ServiceProcess:
    """`python -m <module>` on a fixed port, like betfuz_testing.processes.running, but one the
    test can SIGKILL mid-request and start again on the same port."""

    def __init__(
        self, module: str, env: dict[str, str], port: int, log_path: Path, health_path: str
    ) -> None:
        self.module, self.env, self.port = module, env, port
        self.log_path, self.health_path = log_path, health_path
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        env = {
            **os.environ,
            **self.env,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
        }
        with self.log_path.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", self.module], env=env, stdout=sink, stderr=sink
            )
        wait_until_healthy(self.base_url + self.health_path, self.process)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no lifespan exit, requests cut mid-flight."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
