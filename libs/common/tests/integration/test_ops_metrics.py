"""The operations metrics on the real database: the open-case gauges the shared app keeps fresh
(and keeps serving when the database is gone), and the count of every ops decision."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from betfuz_common.api import Api
from betfuz_common.app import ServiceApp, create_service_app
from betfuz_common.auth import issue_token
from betfuz_common.ops.domain import ActionContext, ActionSpec, Applied, Operations
from betfuz_common.ops.metrics import OpsMetrics, refresh_forever
from betfuz_common.ops.service import open_case
from betfuz_common.settings import CommonSettings, load_settings

SECRET = "ops-metrics-secret-0123456789abcdef0123456"
SCHEMA = "ledger"  # any service schema holds the operations tables; this one is quiet here


async def pay(_: ActionContext) -> Applied:
    return Applied({"paid": True})


async def dismiss(_: ActionContext) -> Applied:
    return Applied({"dismissed": True})


OPERATIONS = Operations(
    SCHEMA,
    [
        ActionSpec("pay", frozenset({"stuck"}), True, pay),
        ActionSpec("dismiss", frozenset({"stuck", "odd"}), False, dismiss),
    ],
)


class Settings(CommonSettings):
    api_base_url: str = "http://ops.test"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.fixture
async def clean(pool: asyncpg.Pool) -> None:
    """Each test counts its own cases: none open in the schema before it."""
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE {SCHEMA}.cases SET status = 'resolved', resolved_at = now() "  # noqa: S608
            "WHERE status = 'open'"
        )


@pytest.fixture
async def app(pool: asyncpg.Pool, clean: None) -> AsyncIterator[Starlette]:
    @asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[None]:
        application.state.pool = pool
        yield

    application = create_service_app(
        ServiceApp(
            prefix="/demo",
            api=Api(title="demo", description="demo", tag="demo"),
            errors={},
            lifespan=lifespan,
            settings=load_settings(Settings, {"APP_ENV": "test", "JWT_SECRET": SECRET}),
            operations=OPERATIONS,
            ops_metrics_seconds=3600,  # the first reading only; the tests refresh by hand
        )
    )
    async with application.router.lifespan_context(application):
        yield application


def ops(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, roles=('ops',))}"}


async def new_case(pool: asyncpg.Pool, kind: str, age_seconds: int = 0) -> int:
    async with pool.acquire() as conn, conn.transaction():
        case = await open_case(
            conn, OPERATIONS, kind=kind, subject=f"S-{uuid.uuid4().hex}", reason="test"
        )
        await conn.execute(
            f"UPDATE {SCHEMA}.cases SET created_at = now() - make_interval(secs => $2) "  # noqa: S608
            "WHERE id = $1",
            case.id,
            age_seconds,
        )
    return case.id


async def test_the_gauges_count_open_cases_by_kind_and_age_the_oldest(
    app: Starlette, pool: asyncpg.Pool
) -> None:
    ops_metrics: OpsMetrics = app.state.ops_metrics
    registry = app.state.metrics.registry
    await new_case(pool, "stuck", age_seconds=7200)
    await new_case(pool, "stuck", age_seconds=60)
    await new_case(pool, "odd")
    await ops_metrics.refresh(pool, SCHEMA)
    assert sample(registry, "ops_cases_open", service="demo", kind="stuck") == 2
    assert sample(registry, "ops_cases_open", service="demo", kind="odd") == 1
    oldest = sample(registry, "ops_oldest_open_case_age_seconds", service="demo")
    assert oldest is not None
    assert 7200 <= oldest < 7200 + 600


async def test_a_kind_whose_cases_are_all_resolved_reads_zero_and_so_does_the_age(
    app: Starlette, pool: asyncpg.Pool
) -> None:
    ops_metrics: OpsMetrics = app.state.ops_metrics
    registry = app.state.metrics.registry
    case_id = await new_case(pool, "odd", age_seconds=900)
    await ops_metrics.refresh(pool, SCHEMA)
    assert sample(registry, "ops_cases_open", service="demo", kind="odd") == 1
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops.test") as http:
        body = {"action": "dismiss", "reason": "a test case"}
        answer = await http.post(
            f"/demo/ops/cases/{case_id}/actions", json=body, headers=ops("ops-ada")
        )
    assert answer.status_code == 201, answer.text
    await ops_metrics.refresh(pool, SCHEMA)
    assert sample(registry, "ops_cases_open", service="demo", kind="odd") == 0
    assert sample(registry, "ops_oldest_open_case_age_seconds", service="demo") == 0


async def test_the_app_starts_the_refresh_itself_and_the_page_shows_the_gauges(
    pool: asyncpg.Pool, clean: None
) -> None:
    await new_case(pool, "stuck", age_seconds=120)

    @asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[None]:
        application.state.pool = pool
        yield

    application = create_service_app(
        ServiceApp(
            prefix="/demo",
            api=Api(title="demo", description="demo", tag="demo"),
            errors={},
            lifespan=lifespan,
            settings=load_settings(Settings, {"APP_ENV": "test", "JWT_SECRET": SECRET}),
            operations=OPERATIONS,
            ops_metrics_seconds=0.01,
        )
    )
    registry = application.state.metrics.registry
    async with application.router.lifespan_context(application):
        for _ in range(500):  # bounded: the task's first reading comes at start-up
            if sample(registry, "ops_cases_open", service="demo", kind="stuck") == 1:
                break
            await asyncio.sleep(0.01)
        assert sample(registry, "ops_cases_open", service="demo", kind="stuck") == 1
        tasks = {task.get_name() for task in asyncio.all_tasks()}
        assert "ops-metrics" in tasks
    # Stopped with the app: no task outlives its lifespan.
    await asyncio.sleep(0)
    assert "ops-metrics" not in {task.get_name() for task in asyncio.all_tasks()}


async def test_a_database_that_is_down_keeps_the_last_reading_and_never_stops_the_task() -> None:
    registry = CollectorRegistry()
    ops_metrics = OpsMetrics(registry, "demo")
    ops_metrics.show({"stuck": 3}, 450.0)
    refreshes = 0

    class DownPool:
        def acquire(self, timeout: float) -> object:
            nonlocal refreshes
            refreshes += 1
            raise ConnectionRefusedError("database down")

    class State:
        pool = DownPool()

    task = asyncio.create_task(refresh_forever(ops_metrics, State(), SCHEMA, interval=0.001))
    for _ in range(500):
        if refreshes >= 3:
            break
        await asyncio.sleep(0.001)
    assert refreshes >= 3
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sample(registry, "ops_cases_open", service="demo", kind="stuck") == 3
    assert sample(registry, "ops_oldest_open_case_age_seconds", service="demo") == 450


async def test_every_decision_is_counted_by_action_and_what_became_of_it(
    app: Starlette, pool: asyncpg.Pool
) -> None:
    registry = app.state.metrics.registry
    transport = httpx.ASGITransport(app=app)
    first, second = await new_case(pool, "stuck"), await new_case(pool, "stuck")
    async with httpx.AsyncClient(transport=transport, base_url="http://ops.test") as http:

        async def propose(case_id: int) -> int:
            body = {"action": "pay", "reason": "the customer proved it"}
            answer = await http.post(
                f"/demo/ops/cases/{case_id}/actions", json=body, headers=ops("ops-ada")
            )
            assert answer.status_code == 201, answer.text
            action_id: int = answer.json()["id"]
            return action_id

        approved, rejected = await propose(first), await propose(second)
        decisions = [
            await http.post(
                f"/demo/ops/actions/{approved}/approve",
                json={"reason": "checked"},
                headers=ops("ops-bola"),
            ),
            await http.post(
                f"/demo/ops/actions/{rejected}/reject",
                json={"reason": "no proof"},
                headers=ops("ops-bola"),
            ),
            # Refused (the proposer's own approval): nothing decided, nothing counted.
            await http.post(
                f"/demo/ops/actions/{rejected}/approve",
                json={"reason": "mine"},
                headers=ops("ops-ada"),
            ),
        ]
    assert [answer.status_code for answer in decisions] == [201, 201, 403]
    counted = {
        status: sample(registry, "ops_actions_total", service="demo", action="pay", status=status)
        for status in ("proposed", "applied", "rejected")
    }
    assert counted == {"proposed": 2, "applied": 1, "rejected": 1}
