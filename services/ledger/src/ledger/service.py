"""The read side: entries, the CSV export and the on-chain verification (no Starlette here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg

from betfuz_common.errors import not_found
from betfuz_common.money import from_kobo, to_kobo
from ledger import repository as repo
from ledger.bet_encoding import bet_hash
from ledger.csv_export import CHUNK_BYTES, ChunkPipe
from ledger.cursor import encode_cursor
from ledger.ports import ChainFactory
from ledger.presenters import entry_json, naira_number
from ledger.repository import Entry, EntryFilter
from ledger.schemas import PageQuery


async def list_entries(pool: asyncpg.Pool, query: PageQuery) -> dict[str, Any]:
    async with pool.acquire() as conn:
        # One extra row tells whether another page exists without a COUNT.
        entries = await repo.list_entries(
            conn, query.filters, before_id=query.before_id, limit=query.limit + 1
        )
    page = entries[: query.limit]
    more = len(entries) > query.limit
    return {
        "items": [entry_json(e) for e in page],
        "nextCursor": encode_cursor(page[-1].id) if more else None,
    }


async def get_entry(pool: asyncpg.Pool, bet_slip_id: str) -> dict[str, Any]:
    return entry_json(await _entry_or_404(pool, bet_slip_id))


async def _entry_or_404(pool: asyncpg.Pool, bet_slip_id: str) -> Entry:
    async with pool.acquire() as conn:
        entry = await repo.get_entry(conn, bet_slip_id)
    if entry is None:
        raise not_found(f"no ledger entry for bet slip {bet_slip_id!r}")
    return entry


def export_csv(
    pool: asyncpg.Pool, filters: EntryFilter, *, chunk_bytes: int = CHUNK_BYTES
) -> AsyncIterator[bytes]:
    """Confirmed entries as CSV, in chunks of about `chunk_bytes`, never the whole file at once.

    The connection lives as long as the stream: closing the iterator (the client went away)
    cancels the COPY and returns the connection.
    """

    async def produce(pipe: ChunkPipe) -> None:
        async with pool.acquire() as conn:
            await repo.copy_confirmed_csv(conn, filters, pipe.write)

    return ChunkPipe(chunk_bytes).stream(produce)


async def verify(pool: asyncpg.Pool, open_chain: ChainFactory, bet_slip_id: str) -> dict[str, Any]:
    """Compare the database entry with what the chain holds for the bet slip, with evidence.

    The hash is recomputed from the bet slip id (not read from the row), so an altered row
    cannot point the check at another record.
    """
    entry = await _entry_or_404(pool, bet_slip_id)
    expected_hash = bet_hash(bet_slip_id)
    async with open_chain() as chain:
        record = await chain.get_bet_record(expected_hash)
        known = [b for b in (entry.block_number, entry.search_from_block) if b is not None]
        search_from = min(known, default=0)
        recordings = await chain.find_recordings([expected_hash], search_from) if record else {}
        contract = chain.contract_address
    recording = recordings.get(expected_hash)
    db_kobo = to_kobo(entry.win_amount)
    checks = {
        "betHash": entry.bet_hash == expected_hash.hex(),
        "recordedOnChain": record is not None,
        "amount": record is not None and record.amount_kobo == db_kobo,
        "txHash": recording is not None and recording.tx_hash == entry.tx_hash,
        "blockNumber": recording is not None and recording.block_number == entry.block_number,
        "statusConfirmed": entry.status == "confirmed",
    }
    on_chain: dict[str, Any] = {
        "contractAddress": contract,
        "betHash": expected_hash.hex(),
        "exists": record is not None,
    }
    if record is not None:
        on_chain |= {
            "winAmount": naira_number(from_kobo(record.amount_kobo)),
            "amountKobo": record.amount_kobo,
            "recordedAt": datetime.fromtimestamp(record.recorded_at, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "recorder": record.recorder,
            "txHash": recording.tx_hash if recording else None,
            "blockNumber": recording.block_number if recording else None,
        }
    return {
        "betSlipId": bet_slip_id,
        "verified": all(checks.values()),
        "checks": checks,
        "onChain": on_chain,
        "database": {
            "betHash": entry.bet_hash,
            "winAmount": naira_number(entry.win_amount),
            "amountKobo": db_kobo,
            "txHash": entry.tx_hash,
            "blockNumber": entry.block_number,
            "network": entry.network,
            "status": entry.status,
        },
    }
