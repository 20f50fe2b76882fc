"""Helpers the treasury tests import: settings, request bodies, signed webhook bodies."""

from __future__ import annotations

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
