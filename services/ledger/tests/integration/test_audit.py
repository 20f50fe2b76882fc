"""`python -m ledger audit` on anvil and the real database: every confirmed entry read again from
the chain; a changed row (amount, transaction hash, block) is reported, becomes a case, and the
exit status says so."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from betfuz_testing.anvil import Anvil
from betfuz_testing.processes import free_port
from betfuz_testing.tokens import bearer
from ledger.app import create_app, read_metrics
from ledger.audit import Mismatch, run_audit
from ledger.bet_encoding import bet_hash
from ledger.commands import audit_command
from ledger.config import LedgerSettings
from ledger.metrics import LedgerMetrics
from ledger.ports import Recording
from services.ledger.tests.integration.fake_chain import FakeChain
from services.ledger.tests.integration.support import (
    SettingsFactory,
    Slip,
    add_slips,
    big_wins,
    entries_by_slip,
    make_worker,
    settings_for,
)

OPS, OTHER_OPS = bearer("ops-ada", ["ops"]), bearer("ops-bola", ["ops"])


async def audit(settings: LedgerSettings, *extra: str) -> int:
    # The command runs its own event loop (asyncio.run), as it does from the shell.
    return await asyncio.to_thread(audit_command, settings, argparse.Namespace(extra=list(extra)))


def printed(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], dict[str, int]]:
    """The mismatch lines and the closing counts (the log's own lines share stdout)."""
    lines = capsys.readouterr().out.strip().splitlines()
    counts = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
    return [line for line in lines if line.startswith("mismatch ")], counts


@pytest.fixture
async def recorded(
    ledger_pool: asyncpg.Pool, chain_settings: SettingsFactory
) -> tuple[LedgerSettings, list[Slip]]:
    wins = big_wins(5)
    await add_slips(ledger_pool, wins)
    settings = chain_settings()
    result = await make_worker(ledger_pool, settings).tick()
    assert result.confirmed == 5
    return settings, wins


@pytest.fixture
async def client(ledger_db: str, anvil: Anvil) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings_for(ledger_db, anvil.rpc_url, None))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as http:
            yield http


async def tamper(pool: asyncpg.Pool, slip_id: str, assignment: str, *args: Any) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE ledger.ledger_entries SET {assignment} WHERE bet_slip_id = $1",  # noqa: S608
            slip_id,
            *args,
        )


async def mismatch_cases(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    page = (await client.get("/ledger/ops/cases", params={"limit": "100"}, headers=OPS)).json()
    return {c["refs"]["betSlipId"]: c for c in page["items"] if c["kind"] == "audit_mismatch"}


async def test_the_audit_of_a_chain_that_matches_the_books_exits_0_and_records_its_run(
    ledger_pool: asyncpg.Pool,
    recorded: tuple[LedgerSettings, list[Slip]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, _ = recorded

    status = await audit(settings, "--batch-size", "2")  # three batches: 2, 2, 1

    mismatches, counts = printed(capsys)
    assert (status, mismatches) == (0, [])
    assert counts == {"checked": 5, "matched": 5, "mismatched": 0, "cases_opened": 0}
    registry = CollectorRegistry()
    await read_metrics(ledger_pool, LedgerMetrics(registry))
    assert registry.get_sample_value("ledger_audit_mismatches_total") == 0
    assert (registry.get_sample_value("ledger_audit_last_run_timestamp_seconds") or 0) > 0


async def test_a_changed_amount_hash_or_block_is_reported_becomes_a_case_and_exits_1(
    ledger_pool: asyncpg.Pool,
    recorded: tuple[LedgerSettings, list[Slip]],
    client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, wins = recorded
    amount, tx, block, bet = (w[0] for w in wins[:4])
    await tamper(ledger_pool, amount, "win_amount = win_amount + 1")
    await tamper(ledger_pool, tx, "tx_hash = $2", "0x" + "ab" * 32)
    await tamper(ledger_pool, block, "block_number = block_number + 7")
    await tamper(ledger_pool, bet, "bet_hash = $2", "cd" * 32)

    status = await audit(settings)

    lines, counts = printed(capsys)
    assert status == 1
    assert counts == {"checked": 5, "matched": 1, "mismatched": 4, "cases_opened": 4}
    by_slip = {line.split("betSlipId=")[1].split()[0]: line for line in lines}
    assert set(by_slip) == {amount, tx, block, bet}
    assert "failed=amount " in by_slip[amount]
    assert "failed=tx_hash " in by_slip[tx]
    assert "failed=block_number " in by_slip[block]
    assert "failed=bet_hash " in by_slip[bet]
    cases = await mismatch_cases(client)
    assert set(cases) == {amount, tx, block, bet}
    entries = await entries_by_slip(ledger_pool)
    chain_block = cases[block]["refs"]["blockNumber"]
    assert chain_block == entries[block]["block_number"]  # the books' value, as found
    assert cases[amount]["amounts"][0]["amount"] == float(entries[amount]["win_amount"])
    assert "amount" in cases[amount]["reason"]

    again = await audit(settings)

    _, counts = printed(capsys)
    assert (again, counts["mismatched"], counts["cases_opened"]) == (1, 4, 0)
    assert {c["occurrences"] for c in (await mismatch_cases(client)).values()} == {2}
    registry = CollectorRegistry()
    await read_metrics(ledger_pool, LedgerMetrics(registry))
    assert registry.get_sample_value("ledger_audit_mismatches_total") == 8


async def test_a_retry_reads_a_moved_block_again_from_the_chain_and_the_next_audit_is_clean(
    ledger_pool: asyncpg.Pool,
    recorded: tuple[LedgerSettings, list[Slip]],
    client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, wins = recorded
    moved, changed_amount = wins[0][0], wins[1][0]
    truth = (await entries_by_slip(ledger_pool))[moved]
    await tamper(
        ledger_pool, moved, "block_number = block_number + 3, tx_hash = $2", "0x" + "1" * 64
    )
    await tamper(ledger_pool, changed_amount, "win_amount = $2", Decimal("1000000.00"))
    assert await audit(settings) == 1
    capsys.readouterr()
    cases = await mismatch_cases(client)

    refused = await client.post(
        f"/ledger/ops/cases/{cases[changed_amount]['id']}/actions",
        json={"action": "retry", "reason": "read it again"},
        headers=OPS,
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    retried = await client.post(
        f"/ledger/ops/cases/{cases[moved]['id']}/actions",
        json={"action": "retry", "reason": "read it again"},
        headers=OPS,
    )
    assert (retried.status_code, retried.json()["status"]) == (201, "applied")

    result = await make_worker(ledger_pool, settings).tick()

    assert (result.sent, result.confirmed) == (0, 1)  # read from its event, never sent again
    healed = (await entries_by_slip(ledger_pool))[moved]
    assert (healed["status"], healed["tx_hash"], healed["block_number"]) == (
        "confirmed",
        truth["tx_hash"],
        truth["block_number"],
    )
    # The amount stays a case for a person (dismissed by two); the rest is clean again.
    proposal = await client.post(
        f"/ledger/ops/cases/{cases[changed_amount]['id']}/actions",
        json={"action": "dismiss", "reason": "the platform corrected the slip"},
        headers=OPS,
    )
    assert proposal.json()["status"] == "proposed"
    approved = await client.post(
        f"/ledger/ops/actions/{proposal.json()['id']}/approve", json={}, headers=OTHER_OPS
    )
    assert approved.json()["status"] == "applied"
    await tamper(ledger_pool, changed_amount, "win_amount = $2", wins[1][2])
    assert await audit(settings) == 0
    _, counts = printed(capsys)
    assert counts["mismatched"] == 0


async def test_an_audit_that_cannot_read_the_chain_exits_3_and_records_no_run(
    ledger_pool: asyncpg.Pool,
    recorded: tuple[LedgerSettings, list[Slip]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, _ = recorded
    dead = settings.model_copy(
        update={"polygon_rpc_url": f"http://127.0.0.1:{free_port()}/secret-key"}
    )

    status = await audit(dead)

    assert status == 3
    err = capsys.readouterr().err
    assert "ledger audit incomplete" in err
    assert "secret-key" not in err
    async with ledger_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ledger.audit_runs") == 0


class CountingChain(FakeChain):
    """The in-memory chain, noting every BetRecorded search the audit makes."""

    def __init__(self) -> None:
        super().__init__(block=20_000)
        self.searches: list[tuple[int, int | None]] = []

    async def find_recordings(
        self, bet_hashes: Sequence[bytes], from_block: int, to_block: int | None = None
    ) -> dict[bytes, Recording]:
        self.searches.append((from_block, to_block))
        return await super().find_recordings(bet_hashes, from_block, to_block)


async def confirmed_at_blocks(pool: asyncpg.Pool, fake: FakeChain, blocks: list[int]) -> list[str]:
    ids = []
    async with pool.acquire() as conn:
        for i, block in enumerate(blocks):
            slip = f"bet_far_{i}_{block}"
            tx = f"0x{block:064x}"
            fake.records[bet_hash(slip)] = Recording(tx, block, 100_000_000)
            await conn.execute(
                """INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount, status,
                       tx_hash, block_number, search_from_block, sent_tx_hashes, confirmed_at)
                   VALUES ($1, $2, 1000000, 'confirmed', $3::text, $4::bigint, $4::bigint - 1,
                           ARRAY[$3::text], now())""",
                slip,
                bet_hash(slip).hex(),
                tx,
                block,
            )
            ids.append(slip)
    return ids


async def test_the_audit_reads_far_apart_recordings_with_one_search_per_window_of_blocks(
    ledger_pool: asyncpg.Pool,
) -> None:
    fake = CountingChain()
    await confirmed_at_blocks(ledger_pool, fake, [100, 150, 5_000, 9_000, 9_100])
    found: list[Mismatch] = []

    summary = await run_audit(
        ledger_pool, fake.factory(), batch_size=10, report=found.append, log_block_range=2000
    )

    assert (summary.checked, summary.mismatched, found) == (5, 0, [])
    assert fake.searches == [(100, 2099), (5_000, 6_999), (9_000, 10_999)]


async def test_a_block_moved_beyond_its_window_is_found_again_from_where_it_may_have_been_sent(
    ledger_pool: asyncpg.Pool,
) -> None:
    fake = CountingChain()
    near, far = await confirmed_at_blocks(ledger_pool, fake, [100, 5_000])
    await tamper(ledger_pool, near, "block_number = 99")  # its window still holds 100
    await tamper(ledger_pool, far, "block_number = 15000")  # beyond it: a search from the send
    found: list[Mismatch] = []

    summary = await run_audit(
        ledger_pool, fake.factory(), batch_size=10, report=found.append, log_block_range=2000
    )

    assert summary.mismatched == 2
    chain_blocks = {m.entry.bet_slip_id: (m.failed, m.chain["blockNumber"]) for m in found}
    assert chain_blocks == {near: (["block_number"], 100), far: (["block_number"], 5_000)}
    assert fake.searches[-1] == (4_999, None)
