"""Reconciliation on PostgreSQL against the Wema sandbox in-process: each listed deposit goes
through the webhook's exactly-once path, whichever of the two comes first, on any replica."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from betfuz_common.db import create_pool
from sandboxes.wema.accounts import Bank
from sandboxes.wema.server import SandboxConfig
from sandboxes.wema.server import create_app as create_sandbox
from services.treasury.tests.support import (
    WEMA_KEY,
    WEMA_SECRET,
    AppClient,
    NewUser,
    OpenAccount,
    balances,
    days_ago,
    deposit_payload,
    post_deposit,
    written_for,
)
from treasury import service
from treasury.config import TreasurySettings
from treasury.domain import Deposit
from treasury.metrics import TreasuryMetrics
from treasury.ports import TreasuryPorts
from treasury.reconcile import ReconcileConfig, TickReport, reconcile_once
from treasury.runtime import build_ports
from treasury.statement import LAGOS, check_day, lagos_day, render

CONFIG = ReconcileConfig(interval_seconds=300, overlap_seconds=3600, lookback_seconds=86400)


@pytest.fixture
def sandbox_transport(bank: Bank) -> httpx.AsyncBaseTransport:
    """The sandbox with two deposits a page, so that every tick here reads several pages."""
    config = SandboxConfig(
        WEMA_KEY, [WEMA_SECRET.encode()], "http://betfuz.test/treasury/webhook", page_size=2
    )
    return httpx.ASGITransport(app=create_sandbox(config, bank))


@asynccontextmanager
async def replica(
    settings: TreasurySettings, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[TreasuryPorts]:
    """What one treasury process holds: its own pool and its own Wema client."""
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=4)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://wema.test") as http:
            yield build_ports(settings, pool, http)
    finally:
        await pool.close()


async def tick(
    settings: TreasurySettings,
    transport: httpx.AsyncBaseTransport,
    metrics: TreasuryMetrics | None = None,
    **options: Any,
) -> TickReport:
    async with replica(settings, transport) as ports:
        return await reconcile_once(
            ports, CONFIG, metrics or TreasuryMetrics(CollectorRegistry()), **options
        )


def unnotified(bank: Bank, account_number: str, amount: str = "2500", **changes: Any) -> str:
    """A deposit the bank made and listed, and never notified."""
    changes.setdefault("transaction_date", days_ago(1 / 1440))
    payload = deposit_payload(account_number, amount, **changes)
    bank.deposits.append(payload)
    reference: str = payload["transaction_reference"]
    return reference


def sample(metrics: TreasuryMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return float(value or 0)


async def credited_by(pool: asyncpg.Pool, reference: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT credited_by FROM treasury.bank_transactions WHERE transaction_reference = $1",
        reference,
    )
    return [row["credited_by"] for row in rows]


async def test_a_deposit_never_notified_is_credited_once_by_the_next_tick_and_only_once(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
    references = [unnotified(bank, account["accountNumber"], "2500") for _ in range(3)]
    metrics = TreasuryMetrics(CollectorRegistry())

    first = await tick(settings, sandbox_transport, metrics)
    again = await tick(settings, sandbox_transport, metrics)

    assert first.ran
    assert not first.failed
    assert first.credited == 3
    assert first.listed >= 3
    assert again.ran
    assert again.credited == 0
    assert again.duplicates >= 3
    assert await balances(pool, user) == (Decimal("7500"), Decimal("7500"))
    for reference in references:
        assert await credited_by(pool, reference) == ["reconciliation"]
    assert sample(metrics, "treasury_reconcile_credited_total") == 3
    assert sample(metrics, "treasury_reconcile_ticks_total", outcome="ok") == 2
    assert sample(metrics, "treasury_reconcile_ticks_total", outcome="failed") == 0
    assert sample(metrics, "treasury_reconcile_last_success_timestamp_seconds") > 0


async def test_a_late_webhook_after_the_tick_is_a_duplicate_and_credits_nothing_more(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        reference = unnotified(bank, account["accountNumber"], "1200")
        await tick(settings, sandbox_transport)
        late = await post_deposit(client, bank.deposits[-1])

    assert late.status_code == 200
    assert late.json()["status"] == "duplicate"
    assert await balances(pool, user) == (Decimal("1200"), Decimal("1200"))
    assert await credited_by(pool, reference) == ["reconciliation"]


async def test_a_deposit_notified_first_is_credited_by_the_webhook_and_the_tick_adds_nothing(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        reference = unnotified(bank, account["accountNumber"], "800")
        notified = await post_deposit(client, bank.deposits[-1])
    metrics = TreasuryMetrics(CollectorRegistry())

    report = await tick(settings, sandbox_transport, metrics)

    assert notified.json()["status"] == "credited"
    assert report.credited == 0
    assert report.duplicates >= 1
    assert await balances(pool, user) == (Decimal("800"), Decimal("800"))
    assert await credited_by(pool, reference) == ["webhook"]
    assert sample(metrics, "treasury_reconcile_credited_total") == 0


async def test_ticks_on_two_replicas_at_once_credit_each_deposit_once(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        references = [unnotified(bank, account["accountNumber"], "300") for _ in range(5)]
        # The webhooks of two of them race the ticks too.
        webhooks = [post_deposit(client, payload) for payload in bank.deposits[:2]]
        ticks = [tick(settings, sandbox_transport) for _ in range(4)]
        results = await asyncio.gather(*ticks, *webhooks)

    reports = [r for r in results if isinstance(r, TickReport)]
    assert sum(r.credited for r in reports if r.ran) <= 5
    assert await balances(pool, user) == (Decimal("1500"), Decimal("1500"))
    for reference in references:
        assert await written_for(pool, reference) == (1, 0)


async def test_a_replica_skips_its_tick_when_another_ticked_within_the_interval(
    settings: TreasurySettings,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
) -> None:
    ran = await tick(settings, sandbox_transport)
    metrics = TreasuryMetrics(CollectorRegistry())
    skipped = await tick(settings, sandbox_transport, metrics, spacing=timedelta(hours=1))
    assert ran.ran
    assert not skipped.ran
    # Its gauge shows the success the other replica had, so an alert on it sees the cluster.
    assert sample(metrics, "treasury_reconcile_last_success_timestamp_seconds") > 0
    assert sample(metrics, "treasury_reconcile_ticks_total", outcome="ok") == 0


async def test_a_listed_amount_other_than_we_credited_is_an_amount_mismatch_case_and_no_money(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
) -> None:
    user = await new_user()
    other = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        elsewhere = await open_account(client, other)
        notified = deposit_payload(
            account["accountNumber"], "500", transaction_date=days_ago(0.001)
        )
        await post_deposit(client, notified)
    reference = notified["transaction_reference"]
    bank.deposits.append({**notified, "amount": Decimal("5000")})
    moved = unnotified(bank, account["accountNumber"], "700")
    bank.deposits.append({**bank.deposits[-1], "account_number": elsewhere["accountNumber"]})
    metrics = TreasuryMetrics(CollectorRegistry())

    first = await tick(settings, sandbox_transport, metrics)
    second = await tick(settings, sandbox_transport, metrics)

    assert first.mismatches == 2
    assert second.mismatches == 0
    assert second.mismatches_again == 2
    assert await balances(pool, user) == (Decimal("1200"), Decimal("1200"))
    assert await balances(pool, other) == (Decimal("0"), Decimal("0"))
    cases = {
        row["subject"]: row
        for row in await pool.fetch(
            "SELECT subject, status, occurrences, amounts, refs FROM treasury.cases "
            "WHERE kind = 'amount_mismatch' AND subject = ANY($1::text[])",
            [reference, moved],
        )
    }
    assert set(cases) == {reference, moved}
    assert cases[reference]["status"] == "open"
    assert cases[reference]["occurrences"] == 2
    assert cases[reference]["amounts"] == {"listed": "5000.00", "booked": "500.00"}
    assert cases[moved]["refs"]["listed_account_number"] == elsewhere["accountNumber"]
    assert sample(metrics, "treasury_reconcile_mismatches_total") == 2
    assert await written_for(pool, reference) == (1, 0)


@pytest.mark.parametrize("status", ["suspended", "closed", None])
async def test_a_listed_deposit_for_an_account_we_cannot_credit_is_held_as_the_webhook_holds_it(
    status: str | None,
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
    number = account["accountNumber"] if status else "0000000019"
    if status:
        await pool.execute(
            "UPDATE treasury.bank_accounts SET status = $2 WHERE user_id = $1", user, status
        )
    reference = unnotified(bank, number, "900")

    first = await tick(settings, sandbox_transport)
    await tick(settings, sandbox_transport)

    held = await pool.fetchrow(
        "SELECT reason, amount FROM treasury.unmatched_deposits WHERE transaction_reference = $1",
        reference,
    )
    assert first.held == 1
    assert held is not None
    assert held["amount"] == Decimal("900")
    assert held["reason"] == (f"account_{status}" if status else "unknown_account")
    assert await written_for(pool, reference) == (0, 1)
    assert await balances(pool, user) == (Decimal("0"), Decimal("0"))


@pytest.mark.parametrize("mode", ["error", "garbage"])
async def test_a_listing_failure_on_any_page_moves_nothing_and_the_next_tick_credits(
    mode: str,
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
    references = [unnotified(bank, account["accountNumber"], "100") for _ in range(5)]
    metrics = TreasuryMetrics(CollectorRegistry())

    # Page 1 answers; page 2 fails: the first page's deposits must not be credited either.
    class SecondPageFails(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.params.get("page") == "2" and not failed:
                failed.append(True)
                bank.listing_failures.append((mode, 0))
            return await sandbox_transport.handle_async_request(request)

    failed: list[bool] = []
    broken = await tick(settings, SecondPageFails(), metrics)
    moved_meanwhile = await balances(pool, user)
    healed = await tick(settings, sandbox_transport, metrics)

    assert broken.ran
    assert broken.failed
    assert broken.credited == 0
    assert moved_meanwhile == (Decimal("0"), Decimal("0"))
    assert healed.credited == 5
    assert await balances(pool, user) == (Decimal("500"), Decimal("500"))
    for reference in references:
        assert await written_for(pool, reference) == (1, 0)
    assert sample(metrics, "treasury_reconcile_ticks_total", outcome="failed") == 1
    assert sample(metrics, "treasury_reconcile_ticks_total", outcome="ok") == 1


async def test_the_statement_check_names_every_difference_and_the_tick_clears_the_missing_one(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        number = account["accountNumber"]
        missing_here = unnotified(bank, number, "100")
        both = unnotified(bank, number, "200")
        await post_deposit(client, bank.deposits[-1])
        ours_only = deposit_payload(number, "300", transaction_date=days_ago(1 / 1440))
        await post_deposit(client, ours_only)
        differs = deposit_payload(number, "400", transaction_date=days_ago(1 / 1440))
        await post_deposit(client, differs)
    bank.deposits.append({**differs, "amount": Decimal("450")})
    day = lagos_today_of(bank.deposits[0]["transaction_date"])

    async with replica(settings, sandbox_transport) as ports:
        before = await check_day(ports, day)
        await reconcile_once(ports, CONFIG, TreasuryMetrics(CollectorRegistry()))
        after = await check_day(ports, day)

    mine = {
        missing_here,
        both,
        ours_only["transaction_reference"],
        differs["transaction_reference"],
    }
    found = {(d.kind, d.reference) for d in before.differences if d.reference in mine}
    assert found == {
        ("missing_here", missing_here),
        ("missing_there", ours_only["transaction_reference"]),
        ("amount_differs", differs["transaction_reference"]),
    }
    left = {(d.kind, d.reference) for d in after.differences if d.reference in mine}
    assert left == found - {("missing_here", missing_here)}
    assert before.listed.count == 3
    assert before.listed.total == Decimal("750")
    printed = render(before)
    assert f"missing here: {missing_here}: Wema NGN 100.00 to {number}" in printed
    assert "Wema lists:    3 deposits, NGN 750.00" in printed


def lagos_today_of(moment: str) -> date:
    return datetime.fromisoformat(moment).astimezone(LAGOS).date()


def test_a_lagos_day_runs_from_midnight_to_midnight_west_africa_time() -> None:
    start, end = lagos_day(date(2026, 12, 1))
    assert start == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)


def test_the_window_starts_where_the_last_tick_stopped_less_the_overlap() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert CONFIG.window(None, now) == (now - timedelta(days=1), now)
    assert CONFIG.window(now - timedelta(minutes=5), now) == (
        now - timedelta(minutes=65),
        now,
    )


async def test_a_tick_that_dies_part_way_leaves_its_window_and_the_next_credits_the_rest_once(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
    references = [unnotified(bank, account["accountNumber"], "10") for _ in range(4)]
    await tick(settings, sandbox_transport)  # the window now ends after these four
    later = days_ago(0.1 / 1440)  # listed after the first four
    late = [
        unnotified(bank, account["accountNumber"], "1", transaction_date=later) for _ in range(4)
    ]
    covered = await pool.fetchval("SELECT covered_to FROM treasury.reconcile_state")
    real = service.settle_deposit
    applied: list[str] = []

    async def dies_on_the_third(*args: Any) -> service.Settled:
        # The four credited already are duplicates found by the tick's look-up, which never
        # reach this path: two of the late ones are credited, then the process dies.
        if len(applied) == 2:
            raise ConnectionResetError("the process died here")
        applied.append(args[1].transaction_reference)
        return await real(*args)

    monkeypatch.setattr(service, "settle_deposit", dies_on_the_third)
    with pytest.raises(ConnectionResetError):
        await tick(settings, sandbox_transport)
    monkeypatch.setattr(service, "settle_deposit", real)
    assert await pool.fetchval("SELECT covered_to FROM treasury.reconcile_state") == covered

    healed = await tick(settings, sandbox_transport)

    assert len(applied) == 2
    assert set(applied) <= set(late)
    assert healed.credited == 2
    assert await balances(pool, user) == (Decimal("44"), Decimal("44"))
    for reference in references + late:
        assert await written_for(pool, reference) == (1, 0)


async def test_reconciliation_logs_no_key_and_no_senders_details(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    bank: Bank,
    sandbox_transport: httpx.AsyncBaseTransport,
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
    unnotified(bank, account["accountNumber"], "10")
    unnotified(bank, "0000000019", "10")
    bank.listing_failures.append(("garbage", 0))
    with capture_logs() as events:
        failed = await tick(settings, sandbox_transport)
        done = await tick(settings, sandbox_transport)
    assert failed.failed
    assert done.credited == 1
    assert done.held == 1
    logged = repr(events)
    assert "reconcile_listing_failed" in logged
    assert "reconcile_tick_credited" in logged
    for secret in (WEMA_KEY, WEMA_SECRET, "MARY JANE", "9876543210", "Deposit to Betfuz"):
        assert secret not in logged


# --- the tick's look-up of what the books already hold ------------------------------------

UNKNOWN_ACCOUNT = "0000000019"  # a valid NUBAN no account of ours carries


class Listing:
    """Wema's listing as a double: exactly these deposits, whatever the window."""

    def __init__(self, wema: Any, listed: list[Deposit]) -> None:
        self._wema = wema
        self.listed = listed

    async def list_transactions(self, start: datetime, end: datetime) -> list[Deposit]:
        return self.listed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wema, name)


class CountingPool:
    """A replica's pool, counting the connections taken from it: the tick takes one for its
    lock, and a deposit settled on its own path one for its transaction."""

    def __init__(self) -> None:
        self.inner: asyncpg.Pool | None = None
        self.acquired = 0

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        assert self.inner is not None
        self.acquired += 1
        return self.inner.acquire(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def as_listed(payload: dict[str, Any], **changes: Any) -> Deposit:
    return Deposit.model_validate({**payload, **changes})


async def listed_tick(
    settings: TreasurySettings,
    transport: httpx.AsyncBaseTransport,
    listed: list[Deposit],
    metrics: TreasuryMetrics,
    pool: CountingPool | None = None,
) -> dict[str, Any]:
    async with replica(settings, transport) as ports:
        if pool is not None:
            pool.inner = ports.pool
            ports = replace(ports, pool=cast(asyncpg.Pool, pool))
        report = await reconcile_once(
            replace(ports, wema=Listing(ports.wema, listed)), CONFIG, metrics
        )
    assert report.ran
    assert not report.failed
    counts = report.as_dict()
    for key in ("ran", "from", "to"):
        counts.pop(key)
    return counts


async def mixed_listing(
    client: httpx.AsyncClient, user: str, open_account: OpenAccount
) -> list[Deposit]:
    """Every kind of item a tick meets: booked with the same facts (credited, and held), booked
    with another amount (credited, and held: two mismatches), and new (one to credit, one to
    hold). The booked ones arrive first by webhook."""
    number = (await open_account(client, user))["accountNumber"]
    recent = {"transaction_date": days_ago(0.001)}
    credited = deposit_payload(number, "100", **recent)
    credited_other = deposit_payload(number, "200", **recent)
    held = deposit_payload(UNKNOWN_ACCOUNT, "300", **recent)
    held_other = deposit_payload(UNKNOWN_ACCOUNT, "350", **recent)
    for payload in (credited, credited_other, held, held_other):
        assert (await post_deposit(client, payload)).status_code == 200
    return [
        as_listed(credited),
        as_listed(credited_other, amount=Decimal("250")),
        as_listed(held),
        as_listed(held_other, amount=Decimal("35")),
        as_listed(deposit_payload(number, "400", **recent)),
        as_listed(deposit_payload(UNKNOWN_ACCOUNT, "500", **recent)),
    ]


def reconcile_samples(metrics: TreasuryMetrics) -> dict[str, float]:
    return {
        "credited": sample(metrics, "treasury_reconcile_credited_total"),
        "mismatches": sample(metrics, "treasury_reconcile_mismatches_total"),
        "ok": sample(metrics, "treasury_reconcile_ticks_total", outcome="ok"),
        "failed": sample(metrics, "treasury_reconcile_ticks_total", outcome="failed"),
    }


async def test_a_mixed_listing_gives_the_report_metrics_and_balances_it_gave_settled_one_by_one(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same listing on two users' twin books: one ticked as before the look-up (every item
    through settle_deposit), the other as now."""
    before_user, now_user = await new_user(), await new_user()
    async with app_client() as client:
        before_listing = await mixed_listing(client, before_user, open_account)
        now_listing = await mixed_listing(client, now_user, open_account)
    before_metrics = TreasuryMetrics(CollectorRegistry())
    now_metrics = TreasuryMetrics(CollectorRegistry())

    async def nothing_alike(conn: Any, deposits: list[Deposit]) -> list[bool]:
        return [False] * len(deposits)

    with monkeypatch.context() as patched:
        patched.setattr(service, "booked_alike", nothing_alike)
        before = [
            await listed_tick(settings, sandbox_transport, before_listing, before_metrics)
            for _ in range(2)
        ]
    now = [
        await listed_tick(settings, sandbox_transport, now_listing, now_metrics) for _ in range(2)
    ]

    assert now == before
    assert now[0] == {
        "failed": False,
        "listed": 6,
        "credited": 1,
        "held": 1,
        "duplicates": 2,
        "mismatches": 2,
        "mismatches_again": 0,
    }
    # the next tick finds every one booked: four alike, two counted again on their cases
    again = {"credited": 0, "held": 0, "duplicates": 4, "mismatches": 0, "mismatches_again": 2}
    assert now[1] == {**now[0], **again}
    assert reconcile_samples(now_metrics) == reconcile_samples(before_metrics)
    assert reconcile_samples(now_metrics) == {"credited": 1, "mismatches": 2, "ok": 2, "failed": 0}
    assert await balances(pool, now_user) == await balances(pool, before_user)
    assert await balances(pool, now_user) == (Decimal("700"), Decimal("700"))
    for before_item, now_item in zip(before_listing, now_listing, strict=True):
        assert await written_for(pool, now_item.transaction_reference) == await written_for(
            pool, before_item.transaction_reference
        )
    occurrences = await pool.fetch(
        "SELECT subject, occurrences FROM treasury.cases WHERE kind = 'amount_mismatch' "
        "AND subject = ANY($1::text[]) ORDER BY subject",
        [d.transaction_reference for d in before_listing + now_listing],
    )
    assert [row["occurrences"] for row in occurrences] == [2, 2, 2, 2]


async def test_a_listed_deposit_booked_with_the_same_facts_opens_no_transaction_of_its_own(
    settings: TreasurySettings,
    app_client: AppClient,
    new_user: NewUser,
    open_account: OpenAccount,
    sandbox_transport: httpx.AsyncBaseTransport,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await new_user()
    recent = {"transaction_date": days_ago(0.001)}
    async with app_client() as client:
        number = (await open_account(client, user))["accountNumber"]
        booked = [deposit_payload(number, "10", **recent) for _ in range(3)]
        booked.append(deposit_payload(UNKNOWN_ACCOUNT, "10", **recent))  # held, and the same
        for payload in booked:
            assert (await post_deposit(client, payload)).status_code == 200
    listed = [as_listed(payload) for payload in booked]
    settled: list[str] = []
    real = service.settle_deposit

    async def counted(*args: Any) -> service.Settled:
        settled.append(args[1].transaction_reference)
        return await real(*args)

    monkeypatch.setattr(service, "settle_deposit", counted)
    metrics = TreasuryMetrics(CollectorRegistry())
    alone = CountingPool()
    steady = await listed_tick(settings, sandbox_transport, listed, metrics, alone)
    fresh = as_listed(deposit_payload(number, "5", **recent))
    with_one_new = CountingPool()
    mixed = await listed_tick(settings, sandbox_transport, [*listed, fresh], metrics, with_one_new)

    assert steady["duplicates"] == 4
    assert alone.acquired == 1  # the tick's own connection, and nothing per deposit
    assert mixed["duplicates"] == 4
    assert mixed["credited"] == 1
    assert with_one_new.acquired == 2  # and one transaction for the new deposit
    assert settled == [fresh.transaction_reference]
    assert await balances(pool, user) == (Decimal("35"), Decimal("35"))
