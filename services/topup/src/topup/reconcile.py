"""The 5-minute SLA: settle topups the webhook never settled by asking the provider each one
recorded (`service.ask_provider`: Selcom or VTpass, by the id that provider knows it by), once
per tick across all replicas (a transaction-scoped advisory lock), flag what is still open
at the SLA.

A topup is refunded only on a definitive failure. When the provider says it has never seen our id
(we crashed before the call, or the request was lost), we submit it again to the SAME provider
with the SAME id (Selcom's transid, VTpass's request_id): each dedupes on it, so a request it
did receive after all cannot be applied twice. A re-submit never fails over.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from betfuz_common.db import Conn
from betfuz_common.logging import get_logger
from topup import repository as repo
from topup import service
from topup.config import TopupSettings
from topup.domain import Topup
from topup.ports import TopupPorts
from topup.service import Source

log = get_logger("topup.reconcile")
LOCK_KEY = int.from_bytes(hashlib.sha256(b"topup:reconcile").digest()[:8], "big") >> 1
QUERY_CONCURRENCY = 8


@dataclass(frozen=True)
class ReconcileConfig:
    interval_seconds: float = 30.0
    after_seconds: float = 180.0
    sla_seconds: float = 300.0
    max_backoff_seconds: float = 600.0
    batch_size: int = 100

    @classmethod
    def from_settings(cls, settings: TopupSettings) -> ReconcileConfig:
        return cls(
            interval_seconds=settings.topup_reconcile_interval_seconds,
            after_seconds=settings.topup_reconcile_after_seconds,
            sla_seconds=settings.topup_sla_seconds,
            max_backoff_seconds=settings.topup_reconcile_max_backoff_seconds,
            batch_size=settings.topup_reconcile_batch_size,
        )

    def backoff(self, attempts: int) -> float:
        base = max(self.interval_seconds, 1.0)
        return float(min(self.max_backoff_seconds, base * 2 ** min(attempts, 20)))


@dataclass
class TickReport:
    ran: bool
    checked: int = 0
    settled: int = 0
    resubmitted: int = 0
    flagged: int = 0
    purged_keys: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


async def reconcile_once(ports: TopupPorts, config: ReconcileConfig) -> TickReport:
    """One tick; a replica that finds the lock taken does nothing this time."""
    # The lock is transaction-scoped on a connection of its own: it ends with the tick (or with
    # the session if the process dies), so no pooled connection ever carries it afterwards.
    async with ports.pool.acquire() as lock_conn, lock_conn.transaction():
        if not await lock_conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY):
            ports.metrics.reconcile_runs.labels("skipped").inc()
            return TickReport(ran=False)
        report = await _tick(ports, config)
    ports.metrics.reconcile_runs.labels("ran").inc()
    if report.checked or report.flagged:
        log.info("reconcile_tick", **_fields(report))
    return report


async def _tick(ports: TopupPorts, config: ReconcileConfig) -> TickReport:
    # Besides the lock's, a connection only for each short step: none is held while the
    # providers are asked (each check takes one for its own write, after the answer).
    report = TickReport(ran=True)
    async with ports.pool.acquire() as conn:
        report.purged_keys = await ports.idempotency.purge_expired(conn)
        rows = await repo.due_for_check(conn, config.after_seconds, config.batch_size)
    gate = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def check(topup: Topup) -> None:
        async with gate:
            await _check_one(ports, config, topup, report)

    await asyncio.gather(*(check(row) for row in rows))
    report.checked = len(rows)
    async with ports.pool.acquire() as conn:
        await _flag_sla_breaches(ports, config, conn, report)
    return report


async def _check_one(
    ports: TopupPorts, config: ReconcileConfig, topup: Topup, report: TickReport
) -> None:
    reference = topup.reference
    result = await service.ask_provider(ports, topup)
    source: Source = "query"
    if result.outcome == "not_found":
        log.warning(
            "topup_unknown_to_provider_resubmitting", reference=reference, provider=topup.provider
        )
        result = await service.submit(ports, topup)
        source = "process"
        report.resubmitted += 1
    report.outcomes[result.outcome] = report.outcomes.get(result.outcome, 0) + 1
    async with ports.pool.acquire() as conn, conn.transaction():
        if source == "process":
            await repo.note_resubmitted(conn, topup.id)
        if result.outcome in ("success", "failed"):
            if await service.settle(ports, conn, reference, result, source) == "applied":
                report.settled += 1
            return
        await repo.schedule_next_check(
            conn, topup.id, config.backoff(topup.attempts), result.result_code, result.message
        )


async def _flag_sla_breaches(
    ports: TopupPorts, config: ReconcileConfig, conn: Conn, report: TickReport
) -> None:
    async with conn.transaction():
        for topup in await repo.newly_over_sla(conn, config.sla_seconds):
            detail = {"created_at": topup.created_at.isoformat(), "attempts": topup.attempts}
            await service.open_topup_case(
                ports,
                conn,
                topup,
                kind=service.SLA_BREACHED,
                reason=f"still pending after {config.sla_seconds:g} s and "
                f"{topup.attempts} status queries",
                detail=detail,
            )
            ports.metrics.sla_breaches.inc()
            report.flagged += 1
            log.warning(
                "topup_sla_breached",
                topup_id=topup.id,
                reference=topup.reference,
                attempts=topup.attempts,
            )
    ports.metrics.pending_over_sla.set(await repo.count_pending_over(conn, config.sla_seconds))


async def run_forever(ports: TopupPorts, config: ReconcileConfig) -> None:
    """The in-process loop; one failed tick is logged and the next one tries again."""
    while True:
        try:
            await reconcile_once(ports, config)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            ports.metrics.reconcile_runs.labels("error").inc()
            log.error("reconcile_tick_failed", exc_info=exc)
        await asyncio.sleep(config.interval_seconds)


def _fields(report: TickReport) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "settled": report.settled,
        "resubmitted": report.resubmitted,
        "flagged": report.flagged,
        "purged_keys": report.purged_keys,
        "outcomes": report.outcomes,
    }


def report_dict(report: TickReport) -> dict[str, Any]:
    return {"ran": report.ran, **_fields(report)}
