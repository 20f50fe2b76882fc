"""The topup service and the Selcom sandbox as real processes on the test database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from betfuz_testing.processes import free_port, running
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer

SELCOM_KEY = "e2e-selcom-key"
SELCOM_SECRET = "e2e-selcom-secret"


@dataclass(frozen=True)
class Stack:
    api: str
    sandbox: str


@pytest.fixture(scope="session")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("topup-e2e")
    api_port, sandbox_port = free_port(), free_port()
    common = {
        "SELCOM_API_KEY": SELCOM_KEY,
        "SELCOM_API_SECRET": SELCOM_SECRET,
    }
    sandbox_env = {
        **common,
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
        "SANDBOX_SELCOM_WEBHOOK_DELAY": "0.3",
        "SANDBOX_SELCOM_TIMEOUT_SLEEP": "2",
    }
    api_env = {
        **common,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "SELCOM_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
        "SELCOM_TIMEOUT_SECONDS": "1",
        # Tiny SLA clock so reconciliation happens within a test.
        "TOPUP_RECONCILE_INTERVAL_SECONDS": "0.3",
        # Past the 1 s provider timeout with room: a purchase answers (pending) before the
        # loop may ask about it, on a loaded machine too.
        "TOPUP_RECONCILE_AFTER_SECONDS": "3",
        "TOPUP_SLA_SECONDS": "120",
        "LOG_LEVEL": "INFO",
    }
    with ExitStack() as processes:
        sandbox = processes.enter_context(
            running(
                "sandboxes.selcom", env=sandbox_env, port=sandbox_port, log_path=logs / "selcom.log"
            )
        )
        api = processes.enter_context(
            running("topup", env=api_env, port=api_port, log_path=logs / "topup.log")
        )
        yield Stack(api=api, sandbox=sandbox)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        yield client


async def buy(
    http: httpx.AsyncClient,
    stack: Stack,
    user_id: str,
    phone: str,
    amount: int = 1000,
    **extra: Any,
) -> httpx.Response:
    body = {"phone": phone, "carrier": "mtn", "amount": amount, "type": "airtime", **extra}
    return await http.post(f"{stack.api}/topup", json=body, headers=bearer(user_id))


async def settled(
    http: httpx.AsyncClient, stack: Stack, user_id: str, topup_id: str, within: float = 20
) -> dict[str, Any]:
    """The topup once it has left `pending` (waits for webhooks and reconciliation)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view: dict[str, Any] = (
            await http.get(f"{stack.api}/topup/{topup_id}", headers=bearer(user_id))
        ).json()
        if view["status"] != "pending" or asyncio.get_running_loop().time() > deadline:
            return view
        await asyncio.sleep(0.1)


async def sandbox_calls(http: httpx.AsyncClient, stack: Stack, transid: str) -> dict[str, Any]:
    answer: dict[str, Any] = (
        await http.get(f"{stack.sandbox}/_sandbox/calls", params={"transid": transid})
    ).json()
    return answer
