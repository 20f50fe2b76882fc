"""The operations metrics, once for every service: how many cases wait, how old the oldest is,
and what ops people did. On the app's registry, so /metrics shows them beside the HTTP ones.

The two gauges are refreshed by a small periodic task the shared app starts (`refresh_forever`):
one cheap query on the `cases_by_status` index every ~30 s. A database that is down leaves the
last values in place and is said in the log; it never fails the app (the alert on the oldest
case then shows the last known age, and the readiness check says the database is down).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from betfuz_common.logging import get_logger

log = get_logger("betfuz.ops")
REFRESH_SECONDS = 30.0


class OpsMetrics:
    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.cases_open = Gauge(
            "ops_cases_open", "Open cases, by kind, at the last refresh", ["service", "kind"],
            registry=registry,
        )  # fmt: skip
        self.oldest_open_case_age = Gauge(
            "ops_oldest_open_case_age_seconds",
            "Age of the oldest open case at the last refresh (0 when none is open)",
            ["service"], registry=registry,
        )  # fmt: skip
        self.actions = Counter(
            "ops_actions_total", "Ops actions by what became of them: applied, proposed, rejected",
            ["service", "action", "status"], registry=registry,
        )  # fmt: skip
        self._kinds_seen: set[str] = set()
        self.oldest_open_case_age.labels(service).set(0)

    def action(self, action: str, status: str) -> None:
        self.actions.labels(self.service, action, status).inc()

    def show(self, open_by_kind: dict[str, int], oldest_age_seconds: float) -> None:
        """Set the gauges from one reading; a kind with no open case left reads 0, not stale."""
        for kind in self._kinds_seen - open_by_kind.keys():
            self.cases_open.labels(self.service, kind).set(0)
        for kind, count in open_by_kind.items():
            self.cases_open.labels(self.service, kind).set(count)
        self._kinds_seen |= open_by_kind.keys()
        self.oldest_open_case_age.labels(self.service).set(max(oldest_age_seconds, 0.0))

    async def refresh(self, pool: asyncpg.Pool, schema: str) -> None:
        """One reading of the open cases (status is the index's first column)."""
        async with pool.acquire(timeout=5) as conn:
            rows = await conn.fetch(
                f"""
                SELECT kind, count(*) AS open,
                       extract(epoch FROM now() - min(created_at))::float8 AS oldest
                  FROM {schema}.cases WHERE status = 'open' GROUP BY kind
                """  # noqa: S608 - the schema is the service's own, never from a request
            )
        self.show(
            {row["kind"]: int(row["open"]) for row in rows},
            max((float(row["oldest"]) for row in rows), default=0.0),
        )


async def refresh_forever(
    metrics: OpsMetrics, state: Any, schema: str, interval: float = REFRESH_SECONDS
) -> None:
    """Refresh the gauges every `interval` seconds until cancelled; never raises otherwise.
    `state` is the app's state: the pool is read from it at each tick (the service's lifespan
    opened it)."""
    while True:
        pool = getattr(state, "pool", None)
        if pool is not None:
            try:
                await metrics.refresh(pool, schema)
            except Exception as exc:  # noqa: BLE001 - a metric never takes the service down
                log.warning("ops_metrics_refresh_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
