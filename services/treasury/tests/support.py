"""Helpers the treasury tests import: settings, request bodies, signed webhook bodies."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from betfuz_common import jsonio
from betfuz_common.signatures import sign
from betfuz_testing.tokens import TEST_JWT_SECRET
from betfuz_testing.wallets import MakeUser

WEMA_KEY = "test-wema-key"
WEMA_SECRET = "test-wema-secret"
WEMA_NEXT_SECRET = "test-wema-secret-next"
BVN_KEY = "test-bvn-encryption-key-0123456789"

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
NewUser = MakeUser
OpenAccount = Callable[[httpx.AsyncClient, str], Awaitable[dict[str, Any]]]


def settings_env(database_url: str) -> dict[str, str]:
    return {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "WEMA_API_KEY": WEMA_KEY,
        # Two secrets: a rotation in progress; the service signs with the first, accepts both.
        "WEMA_SECRET_KEY": f"{WEMA_SECRET},{WEMA_NEXT_SECRET}",
        "WEMA_BASE_URL": "http://wema.test",
        "BVN_ENCRYPTION_KEY": BVN_KEY,
        "API_BASE_URL": "http://betfuz.test",
        # No loop in the background of tests: the reconciliation tests run their ticks.
        "TREASURY_RECONCILE_INTERVAL_SECONDS": "0",
    }


def random_bvn() -> str:
    return f"{uuid.uuid4().int % 10**11:011d}"


def account_body(bvn: str | None = None, **changes: str) -> dict[str, str]:
    return {
        "bvn": bvn or random_bvn(),
        "firstName": "John",
        "lastName": "Doe",
        "phoneNumber": "+2348012345678",
        "email": f"{uuid.uuid4().hex[:12]}@example.com",
        **changes,
    }


def days_ago(days: float) -> str:
    """A deposit date that many days before now (deposit dates must be recent), on the wire."""
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    return moment.isoformat().replace("+00:00", "Z")


def deposit_payload(account_number: str, amount: str = "50000", **changes: Any) -> dict[str, Any]:
    return {
        "account_number": account_number,
        "amount": Decimal(amount),
        "transaction_reference": f"WEMA-TXN-{uuid.uuid4().hex[:16].upper()}",
        "sender_name": "MARY JANE",
        "sender_account": "9876543210",
        "sender_bank": "Access Bank",
        "narration": "Deposit to Betfuz",
        "transaction_date": days_ago(1),
        **changes,
    }


def signed(payload: dict[str, Any], secret: str = WEMA_SECRET) -> tuple[bytes, dict[str, str]]:
    body = jsonio.dumps(payload)
    return body, {
        "content-type": "application/json",
        "x-wema-signature": sign(body, secret.encode(), "sha512"),
    }


async def post_deposit(
    client: httpx.AsyncClient, payload: dict[str, Any], **kwargs: Any
) -> httpx.Response:
    body, headers = signed(payload, **kwargs)
    return await client.post("/treasury/webhook", content=body, headers=headers)


async def balances(pool: asyncpg.Pool, user_id: str) -> tuple[Decimal, Decimal]:
    row = await pool.fetchrow(
        "SELECT u.balance AS user_balance, a.balance AS account_balance FROM public.users u "
        "JOIN treasury.bank_accounts a ON a.user_id = u.id WHERE u.id = $1",
        user_id,
    )
    assert row is not None
    return row["user_balance"], row["account_balance"]


async def written_for(pool: asyncpg.Pool, reference: str) -> tuple[int, int]:
    credited = await pool.fetchval(
        "SELECT count(*) FROM treasury.bank_transactions WHERE transaction_reference = $1",
        reference,
    )
    held = await pool.fetchval(
        "SELECT count(*) FROM treasury.unmatched_deposits WHERE transaction_reference = $1",
        reference,
    )
    return credited, held


def refusal(answer: httpx.Response) -> tuple[int, dict[str, object], list[str]]:
    """What a caller can tell about a refusal: status, body (bar its instance) and headers (bar
    the request id, different on every request)."""
    body = {k: v for k, v in answer.json().items() if k != "instance"}
    names = sorted(n for n in answer.headers if n not in ("x-request-id", "content-length"))
    return answer.status_code, body, names


class Scripted(httpx.AsyncBaseTransport):
    """Forwards to the sandbox, except what the next scripted steps say to do instead.

    "slow": answer after a pause (`pause` seconds), so concurrent requests overlap the call.
    "lost": the sandbox opens the account, but the answer times out on the way back.
    "bad_nuban": answer with an account number whose check digit is wrong.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *steps: str, pause: float = 0.3) -> None:
        self.inner = inner
        self.steps = list(steps)
        self.pause = pause

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        step = self.steps.pop(0) if self.steps else "pass"
        if step == "slow":
            await asyncio.sleep(self.pause)
        if step == "bad_nuban":
            reference = json.loads(request.content)["reference"]
            data = {"accountNumber": "1234567890", "accountName": "X", "reference": reference}
            return httpx.Response(200, json={"status": "success", "data": data})
        response = await self.inner.handle_async_request(request)
        if step == "lost":
            await response.aread()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response
