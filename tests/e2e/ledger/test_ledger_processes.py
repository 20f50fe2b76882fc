"""The ledger as it runs: anvil, `python -m ledger deploy`, the service with its in-process
worker, `python -m ledger worker --once` run twice at the same moment, a win the contract cannot
hold, `python -m ledger audit` before and after a row is changed, and verify over real HTTP
while the chain node is down."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import httpx
import pytest

from betfuz_testing.anvil import DEV_PRIVATE_KEYS, Anvil, run_anvil
from betfuz_testing.fixtures import FreshDatabase
from betfuz_testing.processes import free_port, running
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer
from ledger.chain import connect

pytestmark = [pytest.mark.e2e, pytest.mark.chain]
COMPLIANCE = bearer("officer-e2e", ["compliance"])


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    with run_anvil() as anvil:
        yield anvil


@pytest.fixture
async def database(fresh_database: FreshDatabase) -> str:
    return await fresh_database("ledger_e2e")


def base_env(database: str, node: Anvil) -> dict[str, str]:
    return {
        "APP_ENV": "test",
        "DATABASE_URL": database,
        "JWT_SECRET": TEST_JWT_SECRET,
        "POLYGON_RPC_URL": node.rpc_url,
        "LEDGER_PRIVATE_KEY": DEV_PRIVATE_KEYS[0],
        "LEDGER_USE_FINALIZED_TAG": "false",  # automine: no block after the last transaction
        "LEDGER_CONFIRMATIONS": "1",
        "LEDGER_POLL_INTERVAL_SECONDS": "0.05",
        "LOG_LEVEL": "WARNING",
    }


def python_m(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def deploy(env: dict[str, str]) -> dict[str, str]:
    process = python_m(["ledger", "deploy", "--wait", "10"], env)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    lines = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
    assert lines["LEDGER_CONTRACT_ADDRESS"].startswith("0x")
    assert lines["LEDGER_CHAIN_ID"] == "31337"
    return lines


@asynccontextmanager
async def connected(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database)
    try:
        yield conn
    finally:
        await conn.close()


async def add_big_wins(
    database: str, count: int, amount: Decimal = Decimal("2500000.00")
) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    ids = [f"bet_e2e_{tag}_{i}" for i in range(count)]
    async with connected(database) as conn:
        await conn.execute("INSERT INTO public.users (id) VALUES ($1)", f"user_{tag}")
        await conn.executemany(
            """INSERT INTO public.bet_slips (id, user_id, status, potential_win, settled_at)
               VALUES ($1, $2, 'won', $3, $4)""",
            [(sid, f"user_{tag}", amount, datetime.now(UTC)) for sid in ids],
        )
    return ids


async def total_recorded(env: dict[str, str]) -> int:
    async with connect(
        env["POLYGON_RPC_URL"], env["LEDGER_PRIVATE_KEY"], env["LEDGER_CONTRACT_ADDRESS"]
    ) as chain:
        return (await chain.get_stats()).total_bets


async def test_the_service_records_new_big_wins_on_its_own_and_verifies_them(
    database: str, node: Anvil
) -> None:
    env = base_env(database, node)
    env |= deploy(env)
    ids = await add_big_wins(database, 5)
    env["LEDGER_INTERVAL_SECONDS"] = "0.2"

    with running("ledger", env=env, health_path="/ledger/health") as base:
        async with httpx.AsyncClient(base_url=base, headers=COMPLIANCE) as client:
            statuses: set[str] = set()
            for _ in range(300):  # the worker ticks every 0.2 s; a bound, not a timing check
                page = (await client.get("/ledger/entries", params={"limit": "50"})).json()
                statuses = {item["status"] for item in page["items"]}
                if len(page["items"]) == 5 and statuses == {"confirmed"}:
                    break
                await asyncio.sleep(0.1)
            assert statuses == {"confirmed"}
            verdict = (await client.get(f"/ledger/verify/{ids[0]}")).json()
            export = await client.get("/ledger/export.csv")

    assert verdict["verified"] is True
    assert (
        verdict["network"] if "network" in verdict else verdict["database"]["network"] == ("anvil")
    )
    assert len(export.text.splitlines()) == 6
    assert await total_recorded(env) == 5


async def test_two_one_shot_workers_started_together_record_each_win_once(
    database: str, node: Anvil
) -> None:
    env = base_env(database, node)
    env |= deploy(env)
    await add_big_wins(database, 40)

    workers = [python_m(["ledger", "worker", "--once"], env) for _ in range(2)]
    outcomes = [w.communicate(timeout=120) for w in workers]

    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outcomes]
    assert await total_recorded(env) == 40
    async with connected(database) as conn:
        rows = await conn.fetch("SELECT status, count(*) FROM ledger.ledger_entries GROUP BY 1")
    assert {row["status"]: row["count"] for row in rows} == {"confirmed": 40}


async def test_a_one_shot_worker_sets_aside_a_win_the_contract_cannot_hold_and_records_the_rest(
    database: str, node: Anvil
) -> None:
    env = base_env(database, node)
    env |= deploy(env)
    await add_big_wins(database, 4)
    [too_big] = await add_big_wins(database, 1, amount=Decimal("999999999999999999.99"))

    first = python_m(["ledger", "worker", "--once"], env)
    first_out, first_err = first.communicate(timeout=120)
    second = python_m(["ledger", "worker", "--once"], env)
    second_out, second_err = second.communicate(timeout=120)

    # Non-zero: a person must look at what was set aside; the next run has nothing left to do.
    # (The logs share stdout; the tick's summary is its last line.)
    assert first.returncode == 1, first_err
    summary = json.loads(first_out.splitlines()[-1])
    assert (summary["confirmed"], summary["failed"], summary["set_aside"]) == (4, 0, 1)
    assert "ledger_entry_set_aside" in first_out
    assert second.returncode == 0, second_err
    again = json.loads(second_out.splitlines()[-1])
    assert (again["sent"], again["set_aside"]) == (0, 0)
    assert await total_recorded(env) == 4
    async with connected(database) as conn:
        row = await conn.fetchrow(
            "SELECT status, set_aside_at, error_message FROM ledger.ledger_entries"
            " WHERE bet_slip_id = $1",
            too_big,
        )
    assert row is not None
    assert row["status"] == "failed"
    assert row["set_aside_at"] is not None
    assert "out of range" in row["error_message"]


async def test_the_audit_command_passes_a_recorded_chain_and_fails_on_a_changed_row(
    database: str, node: Anvil
) -> None:
    env = base_env(database, node)
    env |= deploy(env)
    ids = await add_big_wins(database, 3)
    worker = python_m(["ledger", "worker", "--once"], env)
    _, worker_err = worker.communicate(timeout=120)
    assert worker.returncode == 0, worker_err

    clean = python_m(["ledger", "audit"], env)
    clean_out, clean_err = clean.communicate(timeout=120)
    async with connected(database) as conn:
        await conn.execute(
            "UPDATE ledger.ledger_entries SET block_number = block_number + 1"
            " WHERE bet_slip_id = $1",
            ids[1],
        )
    tampered = python_m(["ledger", "audit"], env)
    tampered_out, tampered_err = tampered.communicate(timeout=120)

    # The logs share stdout; the counts are the last line.
    assert clean.returncode == 0, clean_err
    assert json.loads(clean_out.splitlines()[-1])["checked"] == 3
    assert tampered.returncode == 1, tampered_err
    counts = json.loads(tampered_out.splitlines()[-1])
    assert (counts["mismatched"], counts["cases_opened"]) == (1, 1)
    (line,) = [line for line in tampered_out.splitlines() if line.startswith("mismatch ")]
    assert f"betSlipId={ids[1]} failed=block_number " in line
    async with connected(database) as conn:
        case = await conn.fetchrow("SELECT kind, refs FROM ledger.cases WHERE status = 'open'")
    assert case is not None
    assert (case["kind"], json.loads(case["refs"])["betSlipId"]) == ("audit_mismatch", ids[1])


async def test_verify_over_http_answers_our_own_refusals_as_4xx_and_only_the_chain_as_502(
    database: str,
) -> None:
    [known] = await add_big_wins(database, 1)
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database,
        "JWT_SECRET": TEST_JWT_SECRET,
        "POLYGON_RPC_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: the node is down
        "LEDGER_PRIVATE_KEY": DEV_PRIVATE_KEYS[0],
        "LEDGER_CONTRACT_ADDRESS": "0x00000000000000000000000000000000000b1e55",
        "LEDGER_WORKER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    async with connected(database) as conn:  # the entry as the worker claims it
        await conn.execute(
            """INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount)
               SELECT id, encode(sha256(convert_to(id, 'UTF8')), 'hex'), potential_win
               FROM public.bet_slips WHERE id = $1""",
            known,
        )

    with running("ledger", env=env, health_path="/ledger/health") as base:
        async with httpx.AsyncClient(base_url=base, headers=COMPLIANCE) as client:
            answers = {
                raw: (await client.get(f"/ledger/verify/{raw}")).json()
                for raw in ("%00", "bet%01x", "bet%C2%85x", "b" * 129, "bet%ED%A0%80", "bet%20x")
            }
            chain = await client.get(f"/ledger/verify/{known}")

    assert {raw: (a["status"], a["code"]) for raw, a in answers.items()} == {
        "%00": (422, "validation_failed"),
        "bet%01x": (422, "validation_failed"),
        "bet%C2%85x": (422, "validation_failed"),
        "b" * 129: (422, "validation_failed"),
        "bet%ED%A0%80": (404, "entry_not_found"),
        "bet%20x": (404, "entry_not_found"),
    }
    assert (chain.status_code, chain.json()["code"]) == (502, "chain_unavailable")
