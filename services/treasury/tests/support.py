"""Helpers the treasury tests import: settings, request bodies, signed webhook bodies."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

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


def deposit_payload(account_number: str, amount: str = "50000", **changes: Any) -> dict[str, Any]:
    return {
        "account_number": account_number,
        "amount": Decimal(amount),
        "transaction_reference": f"WEMA-TXN-{uuid.uuid4().hex[:16].upper()}",
        "sender_name": "MARY JANE",
        "sender_account": "9876543210",
        "sender_bank": "Access Bank",
        "narration": "Deposit to Betfuz",
        "transaction_date": "2025-01-15T14:30:00Z",
        **changes,
    }


def signed(payload: dict[str, Any], secret: str = WEMA_SECRET) -> tuple[bytes, dict[str, str]]:
    body = jsonio.dumps(payload)
    return body, {
        "content-type": "application/json",
        "x-wema-signature": sign(body, secret.encode(), "sha512"),
    }
