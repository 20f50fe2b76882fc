import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from structlog.testing import capture_logs

from betfuz_testing.wallets import MakeUser, balance_of
from topup.ports import TopupPorts
from topup.reconcile import LOCK_KEY, ReconcileConfig, reconcile_once

from .conftest import FakeSelcom, buy

# Everything is due at once; the SLA is far away unless a test says otherwise.
NOW = ReconcileConfig(interval_seconds=1, after_seconds=0, sla_seconds=3600)


async def ambiguous_topup(client: httpx.AsyncClient, make_user: MakeUser) -> tuple[str, str]:
    user = await make_user(3000)
    response = await buy(client, user, phone="08030000005")  # 999: ambiguous
    assert response.json()["status"] == "pending"
    return user, response.json()["reference"]


async def make_due(pool: asyncpg.Pool, reference: str) -> None:
    await pool.execute(
        "UPDATE topup.topup_transactions SET next_check_at = now() WHERE reference = $1", reference
    )


async def refunds_of(pool: asyncpg.Pool, topup_id: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM topup.refunds WHERE topup_id = $1", topup_id
    )
    return count


async def status_of(pool: asyncpg.Pool, reference: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT * FROM topup.topup_transactions WHERE reference = $1", reference
    )
    assert row is not None
    return row


async def test_a_pending_topup_that_selcom_completed_is_completed_by_the_query(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    ports: TopupPorts,
    selcom: FakeSelcom,
) -> None:
    user, reference = await ambiguous_topup(client, make_user)
    selcom.query_answers[reference] = {
        "resultcode": "000",
        "data": [{"status": "SUCCESS", "reference": "Q-1"}],
    }
    await make_due(pool, reference)
    report = await reconcile_once(ports, NOW)
    assert report.ran
    row = await status_of(pool, reference)
    assert (row["status"], row["external_reference"]) == ("completed", "Q-1")
    assert await balance_of(pool, user) == Decimal("2000.00")


async def test_a_pending_topup_that_selcom_failed_is_refunded_once(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    ports: TopupPorts,
    selcom: FakeSelcom,
) -> None:
    user, reference = await ambiguous_topup(client, make_user)
    selcom.query_answers[reference] = {
        "resultcode": "000",
        "data": [{"status": "FAILED", "resultcode": "051"}],
    }
    await make_due(pool, reference)
    await asyncio.gather(reconcile_once(ports, NOW), reconcile_once(ports, NOW))
    await make_due(pool, reference)
    await reconcile_once(ports, NOW)
    assert (await status_of(pool, reference))["status"] == "failed"
    assert await balance_of(pool, user) == Decimal("3000.00")


async def test_a_topup_selcom_never_saw_is_resubmitted_with_the_same_transid(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    ports: TopupPorts,
    selcom: FakeSelcom,
) -> None:
    user, reference = await ambiguous_topup(client, make_user)
    selcom.query_answers[reference] = {"resultcode": "404", "message": "not found"}
    await make_due(pool, reference)
    report = await reconcile_once(ports, NOW)
    assert report.resubmitted >= 1
    # The fake's process answers 999 again for this number: still pending, never refunded.
    row = await status_of(pool, reference)
    assert row["status"] == "pending"
    assert row["metadata"]["resubmits"] == 1
    assert selcom.calls[("process", reference)] == 2
    assert await balance_of(pool, user) == Decimal("2000.00")


DUPLICATE = {"result": "FAIL", "message": "duplicate transid"}
# How gateways answer a transid they already have: error codes, 4xx, bodies we cannot read.
DUPLICATE_ANSWERS: dict[str, tuple[int, dict[str, Any] | bytes]] = {
    "409-duplicate-transid": (409, {"resultcode": "409", **DUPLICATE}),
    "200-duplicate-code": (200, {"resultcode": "094", **DUPLICATE}),
    "200-other-code": (200, {"resultcode": "409", **DUPLICATE}),
    "400-transid-used": (400, {"resultcode": "400", "message": "transid already used"}),
    "422-no-code": (422, {"error": "duplicate"}),
    "200-malformed": (200, b"<html>duplicate</html>"),
}


@pytest.mark.parametrize("answer", DUPLICATE_ANSWERS.values(), ids=DUPLICATE_ANSWERS.keys())
async def test_a_resubmit_refused_as_a_duplicate_stays_pending_unrefunded_and_is_flagged_at_the_sla(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    ports: TopupPorts,
    selcom: FakeSelcom,
    answer: tuple[int, dict[str, Any] | bytes],
) -> None:
    # The story of the review: 999, then the query lags (404), then the re-submit with the same
    # transid is answered "duplicate": Selcom HAS the order, so nothing here is a failure.
    user, reference = await ambiguous_topup(client, make_user)
    selcom.query_answers[reference] = {"resultcode": "404", "message": "not found"}
    selcom.process_answers[reference] = answer
    await make_due(pool, reference)
    assert (await reconcile_once(ports, NOW)).resubmitted >= 1
    row = await status_of(pool, reference)
    assert (row["status"], row["attempts"], row["metadata"]["resubmits"]) == ("pending", 1, 1)
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert await refunds_of(pool, row["id"]) == 0

    await make_due(pool, reference)
    await reconcile_once(ports, ReconcileConfig(interval_seconds=1, after_seconds=0, sla_seconds=0))
    row = await status_of(pool, reference)
    assert (row["status"], row["review_flag"], row["attempts"]) == ("pending", "sla_breached", 2)
    assert selcom.calls[("query", reference)] == 2  # asked again, not given up on
    assert selcom.calls[("process", reference)] == 3
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert await refunds_of(pool, row["id"]) == 0

    # The lag ends: the query, not the re-submit, settles it.
    selcom.query_answers[reference] = {"resultcode": "000", "data": [{"status": "SUCCESS"}]}
    await make_due(pool, reference)
    await reconcile_once(ports, NOW)
    assert (await status_of(pool, reference))["status"] == "completed"
    assert await balance_of(pool, user) == Decimal("2000.00")


async def test_an_unresolved_topup_at_the_sla_is_flagged_and_queried_again_with_backoff(
    client: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, ports: TopupPorts
) -> None:
    user, reference = await ambiguous_topup(client, make_user)
    await make_due(pool, reference)
    before = ports.metrics.sla_breaches._value.get()
    with capture_logs() as logs:
        await reconcile_once(
            ports, ReconcileConfig(interval_seconds=1, after_seconds=0, sla_seconds=0)
        )
    row = await status_of(pool, reference)
    assert (row["status"], row["review_flag"], row["attempts"]) == ("pending", "sla_breached", 1)
    assert "sla_breached_at" in row["metadata"]
    assert any(e["event"] == "topup_sla_breached" and e["reference"] == reference for e in logs)
    assert ports.metrics.sla_breaches._value.get() > before
    assert ports.metrics.pending_over_sla._value.get() >= 1
    later = await pool.fetchval(
        "SELECT next_check_at > now() FROM topup.topup_transactions WHERE reference = $1", reference
    )
    assert later
    assert await balance_of(pool, user) == Decimal("2000.00")
    await pool.execute(
        "UPDATE topup.topup_transactions SET status = 'completed', completed_at = now() "
        "WHERE reference = $1",
        reference,
    )


async def test_only_one_replica_reconciles_per_tick(ports: TopupPorts, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as other_replica:
        assert await other_replica.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
        try:
            report = await reconcile_once(ports, NOW)
        finally:
            await other_replica.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    assert not report.ran


def test_backoff_doubles_per_attempt_up_to_the_cap() -> None:
    config = ReconcileConfig(interval_seconds=30, max_backoff_seconds=600)
    assert [config.backoff(n) for n in range(6)] == [30, 60, 120, 240, 480, 600]
