"""Builds the ledger app; the pool and the worker start in lifespan, nothing at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from betfuz_common.app import ServiceApp, create_service_app, pool_lifespan
from betfuz_common.logging import get_logger
from betfuz_common.metrics import ServiceMetrics
from ledger.chain import chain_factory as settings_chain_factory
from ledger.config import LedgerSettings
from ledger.errors import ERRORS
from ledger.metrics import LedgerMetrics
from ledger.ports import ChainFactory, LedgerPorts
from ledger.routes import api
from ledger.worker import Clock, Worker, WorkerConfig, url_secrets, utc_now

log = get_logger("ledger.app")


def create_app(
    settings: LedgerSettings,
    *,
    chain_factory: ChainFactory | None = None,
    clock: Clock = utc_now,
) -> Starlette:
    open_chain = chain_factory or settings_chain_factory(settings)
    service_metrics = ServiceMetrics("ledger")
    metrics = LedgerMetrics(service_metrics.registry)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with pool_lifespan(app, settings.database_url.get_secret_value()):
            app.state.ports = LedgerPorts(pool=app.state.pool, open_chain=open_chain)
            task = _start_worker(app, settings, open_chain, clock, metrics)
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    # A cancelled tick is a crash the next tick recovers from.
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    return create_service_app(
        ServiceApp(
            prefix="/ledger",
            api=api,
            errors=ERRORS,
            lifespan=lifespan,
            settings=settings,
            metrics=service_metrics,
        )
    )


def _start_worker(
    app: Starlette,
    settings: LedgerSettings,
    open_chain: ChainFactory | None,
    clock: Clock,
    metrics: LedgerMetrics,
) -> asyncio.Task[None] | None:
    if not settings.ledger_worker_enabled:
        return None
    if open_chain is None:
        log.warning("ledger_worker_not_started", reason="LEDGER_CONTRACT_ADDRESS is not set")
        return None
    worker = Worker(
        app.state.pool,
        open_chain,
        WorkerConfig.from_settings(settings),
        clock=clock,
        hide_in_errors=url_secrets(settings.polygon_rpc_url),
        metrics=metrics,
    )
    return asyncio.create_task(
        worker.run_forever(settings.ledger_interval_seconds), name="ledger-worker"
    )
