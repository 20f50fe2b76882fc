"""Helpers the ledger integration tests share: settings, bet slips, reading entries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from betfuz_testing.anvil import DEV_PRIVATE_KEYS
from betfuz_testing.tokens import TEST_JWT_SECRET
from ledger.bet_encoding import bet_hash
from ledger.chain import chain_factory, connect
from ledger.config import LedgerSettings
from ledger.metrics import LedgerMetrics
from ledger.ports import LedgerChainPort
from ledger.worker import Worker, WorkerConfig, url_secrets, utc_now

SettingsFactory = Callable[..., LedgerSettings]
Slip = tuple[str, str, Decimal, datetime | None]  # id, status, potential_win, settled_at


def settings_for(
    database_url: str, rpc_url: str, contract: str | None, **overrides: Any
) -> LedgerSettings:
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": database_url,
        "jwt_secret": TEST_JWT_SECRET,
        "polygon_rpc_url": rpc_url,
        "ledger_private_key": DEV_PRIVATE_KEYS[0],
        "ledger_contract_address": contract,
        "ledger_chain_id": 31337,
        "ledger_network": "anvil",
        # anvil automines: no block comes after the last transaction, so `finalized` would
        # never reach it; one confirmation is the transaction's own block.
        "ledger_use_finalized_tag": False,
        "ledger_confirmations": 1,
        "ledger_poll_interval_seconds": 0.02,
        "ledger_finality_timeout_seconds": 20,
        "ledger_worker_enabled": False,
        "api_base_url": "http://ledger.test",
    }
    values.update(overrides)
    return LedgerSettings.model_validate(values)


# ---------------------------------------------------------------- bet slips

SETTLED = datetime(2025, 1, 15, 14, 30, tzinfo=UTC)


async def add_user(conn: asyncpg.Connection | Any) -> str:
    user_id = f"user_{uuid.uuid4().hex[:12]}"
    await conn.execute("INSERT INTO public.users (id) VALUES ($1)", user_id)
    return user_id


async def add_slips(
    pool: asyncpg.Pool,
    slips: list[Slip],
) -> None:
    """(id, status, potential_win, settled_at) rows for one new user."""
    async with pool.acquire() as conn:
        user_id = await add_user(conn)
        await conn.executemany(
            """INSERT INTO public.bet_slips (id, user_id, status, stake, potential_win, settled_at)
               VALUES ($1, $2, $3, 100, $4, $5)""",
            [(sid, user_id, status, win, settled) for sid, status, win, settled in slips],
        )


def big_wins(count: int, prefix: str = "bet") -> list[Slip]:
    tag = uuid.uuid4().hex[:8]
    return [
        (
            f"{prefix}_{tag}_{i:04d}",
            "won",
            Decimal("1000000.00") + Decimal(i) + Decimal("0.25"),
            SETTLED + timedelta(seconds=i),
        )
        for i in range(count)
    ]


def non_qualifying(count_each: int) -> list[Slip]:
    tag = uuid.uuid4().hex[:8]
    rows: list[Slip] = []
    for i in range(count_each):
        rows.append((f"lost_{tag}_{i}", "lost", Decimal("5000000.00"), SETTLED))
        rows.append((f"small_{tag}_{i}", "won", Decimal("999999.99"), SETTLED))
        rows.append((f"unsettled_{tag}_{i}", "won", Decimal("2000000.00"), None))
        rows.append((f"open_{tag}_{i}", "open", Decimal("3000000.00"), None))
        rows.append((f"void_{tag}_{i}", "void", Decimal("3000000.00"), SETTLED))
    return rows


async def entries_by_slip(pool: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM ledger.ledger_entries")
    return {row["bet_slip_id"]: row for row in rows}


def make_worker(
    pool: asyncpg.Pool,
    settings: LedgerSettings,
    *,
    wrap: Callable[[LedgerChainPort], LedgerChainPort] | None = None,
    clock: Callable[[], datetime] | None = None,
    metrics: LedgerMetrics | None = None,
) -> Worker:
    """A worker on the settings' chain; `wrap` puts a (crashing) decorator around the port."""
    open_chain = chain_factory(settings)
    assert open_chain is not None, "settings without a contract address"
    if wrap is not None:
        inner = open_chain

        @asynccontextmanager
        async def wrapped() -> AsyncIterator[LedgerChainPort]:
            async with inner() as chain:
                yield wrap(chain)

        open_chain = wrapped
    return Worker(
        pool,
        open_chain,
        WorkerConfig.from_settings(settings),
        clock=clock or utc_now,
        hide_in_errors=url_secrets(settings.polygon_rpc_url),
        metrics=metrics,
    )


async def chain_stats(settings: LedgerSettings) -> tuple[int, int]:
    address = settings.ledger_contract_address
    assert address is not None
    async with connect(
        settings.polygon_rpc_url, settings.ledger_private_key.get_secret_value(), address
    ) as chain:
        stats = await chain.get_stats()
    return stats.total_bets, stats.total_amount_kobo


async def add_entry(
    pool: asyncpg.Pool,
    slip_id: str,
    amount: Decimal,
    *,
    status: str = "confirmed",
    created_at: datetime = SETTLED,
    block_number: int | None = 12_345_678,
) -> None:
    """An entry as the worker leaves it (for the read API; no chain involved)."""
    confirmed = status == "confirmed"
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount, network,
                   status, tx_hash, block_number, created_at, confirmed_at)
               VALUES ($1, $2, $3, 'polygon-amoy', $4, $5, $6, $7, $8)""",
            slip_id,
            bet_hash(slip_id).hex(),
            amount,
            status,
            "0x" + bet_hash("tx" + slip_id).hex() if confirmed else None,
            block_number if confirmed else None,
            created_at,
            created_at if confirmed else None,
        )
