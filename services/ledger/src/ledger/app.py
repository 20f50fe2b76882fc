"""Builds the ledger app; the pool and the worker start in lifespan, nothing at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette

from betfuz_common.app import ServiceApp, create_service_app, pool_lifespan
from betfuz_common.logging import get_logger
from betfuz_common.metrics import ServiceMetrics
from ledger import repository as repo
from ledger.chain import chain_factory as settings_chain_factory
from ledger.config import LedgerSettings
from ledger.errors import ERRORS
from ledger.metrics import LedgerMetrics
from ledger.operations import OPERATIONS
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
            refresh = asyncio.create_task(
                refresh_metrics(app.state.pool, metrics, settings.ledger_metrics_refresh_seconds),
                name="ledger-metrics",
            )
            try:
                yield
            finally:
                for running in (task, refresh):
                    if running is not None:
                        running.cancel()
                        # A cancelled tick is a crash the next tick recovers from.
                        with contextlib.suppress(asyncio.CancelledError):
                            await running

    return create_service_app(
        ServiceApp(
            prefix="/ledger",
            api=api,
            errors=ERRORS,
            lifespan=lifespan,
            settings=settings,
            metrics=service_metrics,
            operations=OPERATIONS,
        )
    )


async def refresh_metrics(pool: asyncpg.Pool, metrics: LedgerMetrics, interval: float) -> None:
    """The figures every replica shows alike, read from the database: the backlog (whichever
    replica holds the tick) and the audit runs (a process of their own)."""
    while True:
        try:
            await read_metrics(pool, metrics)
        except Exception as exc:  # noqa: BLE001 - stale figures for a while, never a dead app
            log.warning("ledger_metrics_refresh_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)


async def read_metrics(pool: asyncpg.Pool, metrics: LedgerMetrics) -> None:
    async with pool.acquire() as conn:
        backlog = await repo.count_backlog(conn)
        mismatches, last_run = await repo.audit_figures(conn)
    metrics.backlog.set(backlog)
    # Only ever grows: it is the sum over runs that only get added.
    metrics.audit.mismatches = mismatches
    metrics.audit.last_run = None if last_run is None else last_run.timestamp()


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
