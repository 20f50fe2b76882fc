"""The Wema sandbox and the treasury service as real processes on the session's database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from betfuz_testing.processes import free_port, running
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, settings_env


@dataclass
class Stack:
    api: str
    wema: str
    service_log: Path
    bvns_used: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    service_port = free_port()
    service_log = tmp_path_factory.mktemp("treasury-e2e") / "treasury.log"
    sandbox_env = {
        "WEMA_API_KEY": WEMA_KEY,
        "WEMA_SECRET_KEY": WEMA_SECRET,
        "API_BASE_URL": f"http://127.0.0.1:{service_port}",
    }
    with running("sandboxes.wema", env=sandbox_env) as wema:
        service_env = {
            **settings_env(database_url),
            "WEMA_BASE_URL": wema,
            "WEMA_TIMEOUT_SECONDS": "1",
            "LOG_LEVEL": "DEBUG",
            "PYTHONUNBUFFERED": "1",
        }
        with running(
            "treasury",
            env=service_env,
            port=service_port,
            log_path=service_log,
            health_path="/treasury/health",
        ) as api:
            yield Stack(api=api, wema=wema, service_log=service_log)


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=stack.api, limits=limits, timeout=60) as client:
        yield client


@pytest.fixture
async def wema(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.wema, timeout=300) as client:
        yield client
