"""Deposit reconciliation with Wema: webhooks are the fast path, the listing the truth.

Each tick reads every page of Wema's transaction listing over a window, then applies each
deposit through the webhook's own exactly-once path (`service.settle_deposit`), marked as
reconciliation's. A deposit whose notification never came is credited here; its notification,
arriving later, is a duplicate. What the books already hold with the listing's own amount and
account (the steady state: nearly every listed deposit) is found in one look-up per chunk and
counted as a duplicate without a transaction of its own. One tick at a time across replicas
(a transaction-scoped advisory lock), and one per interval between them (the state row's
`last_started_at`).

The window starts where the last successful tick stopped, less the overlap (a bank can list a
deposit dated before one it listed earlier), and ends now, on the database's clock. The whole
listing is read before anything is applied: a listing that fails part way (a timeout, a 5xx, a
page we cannot read) moves nothing, leaves the window where it was, and the next tick reads it
again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from betfuz_common.logging import get_logger
from treasury import repository as repo
from treasury import service
from treasury.config import TreasurySettings
from treasury.metrics import TreasuryMetrics
from treasury.ports import TreasuryPorts
from treasury.provider import ProviderError

log = get_logger("treasury.reconcile")
LOCK_KEY = int.from_bytes(hashlib.sha256(b"treasury:reconcile").digest()[:8], "big") >> 1
# A replica skips its tick when any replica started one less than this share of the interval
# ago: with N replicas ticking on their own clocks, the listing is still read once per interval.
SPACING = 0.9
# Listed deposits per look-up of what the books already hold: one statement, one array. Small
# enough that the planner finds each reference through its UNIQUE index from ~50,000 booked
# deposits up: at 500 or 1,000 a custom plan reads a 50,000-row bank_transactions whole
# (tests/plans checks the plan of a chunk); 40 statements for 10^4 listed deposits.
LOOKUP_CHUNK = 250


@dataclass(frozen=True)
class ReconcileConfig:
    interval_seconds: float = 300.0
    overlap_seconds: float = 3600.0
    lookback_seconds: float = 86400.0

    @classmethod
    def from_settings(cls, settings: TreasurySettings) -> ReconcileConfig:
        return cls(
            interval_seconds=settings.treasury_reconcile_interval_seconds,
            overlap_seconds=settings.treasury_reconcile_overlap_seconds,
            lookback_seconds=settings.treasury_reconcile_lookback_seconds,
        )

    @property
    def spacing(self) -> timedelta:
        return timedelta(seconds=self.interval_seconds * SPACING)

    def window(self, covered_to: datetime | None, now: datetime) -> tuple[datetime, datetime]:
        if covered_to is None:
            return now - timedelta(seconds=self.lookback_seconds), now
        return min(covered_to - timedelta(seconds=self.overlap_seconds), now), now


@dataclass
class TickReport:
    ran: bool
    failed: bool = False
    start: datetime | None = None
    end: datetime | None = None
    listed: int = 0
    credited: int = 0
    held: int = 0
    duplicates: int = 0
    mismatches: int = 0  # found this tick (a case opened)
    mismatches_again: int = 0  # already a case: counted on it

    def count(self, settled: service.Settled) -> None:
        if settled.mismatch:
            if settled.new_case:
                self.mismatches += 1
            else:
                self.mismatches_again += 1
        elif settled.outcome == "credited":
            self.credited += 1
        elif settled.outcome == "held_for_review":
            self.held += 1
        else:
            self.duplicates += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "failed": self.failed,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "listed": self.listed,
            "credited": self.credited,
            "held": self.held,
            "duplicates": self.duplicates,
            "mismatches": self.mismatches,
            "mismatches_again": self.mismatches_again,
        }


async def reconcile_once(
    ports: TreasuryPorts,
    config: ReconcileConfig,
    metrics: TreasuryMetrics,
    *,
    spacing: timedelta | None = None,
) -> TickReport:
    """One tick, unless another replica is running one, or (with `spacing`) started one less
    than `spacing` ago. A listing failure is a failed tick (counted, logged), not an exception."""
    # The lock is transaction-scoped on a connection of its own: it ends with the tick (or with
    # the session if the process dies), so no pooled connection ever carries it afterwards. The
    # tick's start and its window's end commit with that transaction, so a tick that dies part
    # way leaves the window where it was.
    async with ports.pool.acquire() as lock_conn, lock_conn.transaction():
        if not await repo.try_reconcile_lock(lock_conn, LOCK_KEY):
            return TickReport(ran=False)
        state = await repo.reconcile_state(lock_conn)
        started = state["last_started_at"]
        if spacing is not None and started is not None and state["now"] - started < spacing:
            if state["last_success_at"] is not None:  # what the replica that ticked achieved
                metrics.reconcile_last_success.set(state["last_success_at"].timestamp())
            return TickReport(ran=False)
        await repo.mark_reconcile_started(lock_conn)
        start, end = config.window(state["covered_to"], state["now"])
        report = TickReport(ran=True, start=start, end=end)
        try:
            deposits = await ports.wema.list_transactions(start, end)
        except ProviderError as exc:
            # Our own message, never a key or a sender's details. Nothing moved: the window
            # stays where it was and the next tick reads it again.
            log.warning("reconcile_listing_failed", error=str(exc), **_window(report))
            metrics.reconcile_ticks.labels("failed").inc()
            report.failed = True
            return report
        report.listed = len(deposits)
        for start_at in range(0, len(deposits), LOOKUP_CHUNK):
            chunk = deposits[start_at : start_at + LOOKUP_CHUNK]
            # Read on the tick's own connection: what the books already hold for the chunk,
            # in one statement. Those booked with the listing's own facts are duplicates with
            # nothing to write (service.booked_alike says why no reference lock is needed);
            # every other one takes the one exactly-once path, as a webhook would.
            alike = await service.booked_alike(lock_conn, chunk)
            for deposit, same in zip(chunk, alike, strict=True):
                if same:
                    report.count(service.DUPLICATE)
                else:
                    report.count(await service.settle_deposit(ports, deposit, "reconciliation"))
        await repo.finish_reconcile(lock_conn, end)
    metrics.reconcile_ticks.labels("ok").inc()
    metrics.reconcile_last_success.set(time.time())
    metrics.reconcile_credited.inc(report.credited)
    metrics.reconcile_mismatches.inc(report.mismatches)
    event = "reconcile_tick_credited" if report.credited or report.mismatches else "reconcile_tick"
    (log.warning if report.credited or report.mismatches else log.info)(event, **_counts(report))
    return report


async def run_forever(
    ports: TreasuryPorts, config: ReconcileConfig, metrics: TreasuryMetrics
) -> None:
    """The in-process loop; a tick that fails is logged and counted, and the next one retries."""
    while True:
        try:
            await reconcile_once(ports, config, metrics, spacing=config.spacing)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            metrics.reconcile_ticks.labels("failed").inc()
            log.error("reconcile_tick_crashed", exc_info=exc)
        await asyncio.sleep(config.interval_seconds)


def _window(report: TickReport) -> dict[str, Any]:
    return {"from": report.start, "to": report.end}


def _counts(report: TickReport) -> dict[str, Any]:
    fields = report.as_dict()
    fields.pop("ran")
    return fields
