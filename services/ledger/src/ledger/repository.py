"""SQL for ledger.ledger_entries (and the read of public.bet_slips that feeds it), and nothing
else; rows come back as domain values."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from betfuz_common.db import Conn
from ledger import csv_export
from ledger.domain import Entry, EntryFilter

ENTRY_COLUMNS = """id, bet_slip_id, bet_hash, win_amount, network, status, tx_hash, block_number,
    sent_tx_hashes, search_from_block, attempts, next_attempt_at, error_message, created_at,
    submitted_at, confirmed_at, set_aside_at"""
# Entries the worker still tries (the predicate of the ledger_entries_due index).
QUEUED = "status <> 'confirmed' AND set_aside_at IS NULL"


# ---------------------------------------------------------------- worker


async def try_tick_lock(conn: Conn, key: int) -> bool:
    """Transaction-scoped (the caller holds a transaction open for the tick): it ends with that
    transaction or with the session, so no pooled connection ever carries it afterwards."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", key))


async def claim_qualifying_slips(
    conn: Conn,
    *,
    min_win: Decimal,
    network: str,
    now: datetime,
    limit: int,
    settled_within_seconds: float | None = None,
) -> int:
    """Insert a `pending` entry for up to `limit` settled big wins that have none; returns how
    many. The bet hash is computed here, in the same statement: SHA-256 of the id's UTF-8.

    With `settled_within_seconds`, only wins settled that recently (the database's clock) are
    looked at: the bet_slips (settled_at) WHERE status = 'won' index reads just those, where
    the whole history of big wins would each need its proof of being claimed already."""
    window = (
        ""
        if settled_within_seconds is None
        else "AND bs.settled_at >= now() - make_interval(secs => $5)"
    )
    args: list[Any] = [min_win, network, now, limit]
    if settled_within_seconds is not None:
        args.append(settled_within_seconds)
    status = await conn.execute(
        f"""
        INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount, network,
                                           next_attempt_at)
        SELECT bs.id, encode(sha256(convert_to(bs.id, 'UTF8')), 'hex'), bs.potential_win, $2, $3
        FROM public.bet_slips bs
        WHERE bs.status = 'won'
          AND bs.potential_win >= $1
          AND bs.settled_at IS NOT NULL
          {window}
          AND NOT EXISTS (SELECT 1 FROM ledger.ledger_entries le WHERE le.bet_slip_id = bs.id)
        ORDER BY bs.settled_at, bs.id
        LIMIT $4
        ON CONFLICT DO NOTHING
        """,  # noqa: S608 - the window clause is ours, its value a parameter
        *args,
    )
    return int(status.split()[-1])


async def due_entries(conn: Conn, *, now: datetime, after_id: int, limit: int) -> list[Entry]:
    rows = await conn.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM ledger.ledger_entries
            WHERE {QUEUED} AND next_attempt_at <= $1 AND id > $2
            ORDER BY id LIMIT $3""",  # noqa: S608 - fixed column list, values are parameters
        now,
        after_id,
        limit,
    )
    return [Entry.from_record(row) for row in rows]


async def mark_sending(conn: Conn, ids: Sequence[int], *, from_block: int, now: datetime) -> None:
    """From here on the batch may be on chain: the recovery will look before re-sending."""
    await conn.execute(
        """UPDATE ledger.ledger_entries
           SET search_from_block = LEAST(search_from_block, $2), updated_at = $3
           WHERE id = ANY($1::bigint[])""",
        list(ids),
        from_block,
        now,
    )


async def mark_submitted(conn: Conn, ids: Sequence[int], *, tx_hash: str, now: datetime) -> None:
    await conn.execute(
        """UPDATE ledger.ledger_entries
           SET status = 'submitted', tx_hash = $2::text,
               sent_tx_hashes = array_append(sent_tx_hashes, $2::text),
               submitted_at = $3, error_message = NULL, updated_at = $3
           WHERE id = ANY($1::bigint[]) AND status <> 'confirmed'""",
        list(ids),
        tx_hash,
        now,
    )


async def confirm(
    conn: Conn, confirmations: Sequence[tuple[int, str, int]], *, now: datetime
) -> None:
    """(entry id, tx hash, block number) for each entry whose recording is final."""
    if not confirmations:
        return
    ids, hashes, blocks = zip(*confirmations, strict=True)
    await conn.execute(
        """UPDATE ledger.ledger_entries le
           SET status = 'confirmed', tx_hash = c.tx_hash, block_number = c.block_number,
               confirmed_at = $4, error_message = NULL, updated_at = $4
           FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS c(id, tx_hash, block_number)
           WHERE le.id = c.id""",
        list(ids),
        list(hashes),
        list(blocks),
        now,
    )


async def wait_again(
    conn: Conn,
    ids: Sequence[int],
    *,
    next_attempt_at: datetime,
    now: datetime,
    tx_hash: str | None = None,
) -> None:
    """Still in flight: look again later (optionally after a replacement with a new hash)."""
    await conn.execute(
        """UPDATE ledger.ledger_entries
           SET status = 'submitted', next_attempt_at = $2, updated_at = $3,
               tx_hash = COALESCE($4, tx_hash),
               sent_tx_hashes = CASE
                   WHEN $4::text IS NULL OR $4 = ANY(sent_tx_hashes) THEN sent_tx_hashes
                   ELSE array_append(sent_tx_hashes, $4) END
           WHERE id = ANY($1::bigint[]) AND status <> 'confirmed'""",
        list(ids),
        next_attempt_at,
        now,
        tx_hash,
    )


async def mark_failed(
    conn: Conn,
    ids: Sequence[int],
    *,
    error: str,
    now: datetime,
    retry_base_seconds: float,
    retry_max_seconds: float,
) -> None:
    """`failed` with the error, due again after base * 2^attempts seconds (capped)."""
    await conn.execute(
        """UPDATE ledger.ledger_entries
           SET status = 'failed', error_message = $2, attempts = attempts + 1, updated_at = $3,
               next_attempt_at = $3::timestamptz + make_interval(
                   secs => LEAST($4 * power(2, LEAST(attempts, 30)), $5))
           WHERE id = ANY($1::bigint[]) AND status <> 'confirmed'""",
        list(ids),
        error,
        now,
        retry_base_seconds,
        retry_max_seconds,
    )


async def set_aside(conn: Conn, refusals: Sequence[tuple[int, str]], *, now: datetime) -> None:
    """(entry id, error) for each entry that can never be recorded: `failed` with its error, out
    of the queue for good (no backoff brings it back), kept for a person to decide on."""
    if not refusals:
        return
    ids, errors = zip(*refusals, strict=True)
    await conn.execute(
        """UPDATE ledger.ledger_entries le
           SET status = 'failed', error_message = r.error, set_aside_at = $3, updated_at = $3
           FROM unnest($1::bigint[], $2::text[]) AS r(id, error)
           WHERE le.id = r.id AND le.status <> 'confirmed'""",
        list(ids),
        list(errors),
        now,
    )


async def fail_all_due(
    conn: Conn, *, error: str, now: datetime, retry_base_seconds: float, retry_max_seconds: float
) -> int:
    ids = await conn.fetch(
        f"SELECT id FROM ledger.ledger_entries WHERE {QUEUED} AND next_attempt_at <= $1",  # noqa: S608
        now,
    )
    await mark_failed(
        conn,
        [row["id"] for row in ids],
        error=error,
        now=now,
        retry_base_seconds=retry_base_seconds,
        retry_max_seconds=retry_max_seconds,
    )
    return len(ids)


# ---------------------------------------------------------------- API


async def get_entry(conn: Conn, bet_slip_id: str) -> Entry | None:
    row = await conn.fetchrow(
        f"SELECT {ENTRY_COLUMNS} FROM ledger.ledger_entries WHERE bet_slip_id = $1",  # noqa: S608
        bet_slip_id,
    )
    return Entry.from_record(row) if row else None


def _where(filters: EntryFilter, args: list[Any]) -> str:
    clauses = []
    if filters.status is not None:
        args.append(filters.status.value)
        clauses.append(f"status = ${len(args)}")
    if filters.created_from is not None:
        args.append(filters.created_from)
        clauses.append(f"created_at >= ${len(args)}")
    if filters.created_to is not None:
        args.append(filters.created_to)
        clauses.append(f"created_at < ${len(args)}")
    return " AND ".join(clauses) or "TRUE"


async def list_entries(
    conn: Conn, filters: EntryFilter, *, before_id: int | None, limit: int
) -> list[Entry]:
    """Newest first; `before_id` continues after the previous page's last entry."""
    args: list[Any] = []
    where = _where(filters, args)
    if before_id is not None:
        args.append(before_id)
        where += f" AND id < ${len(args)}"
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM ledger.ledger_entries WHERE {where}
            ORDER BY id DESC LIMIT ${len(args)}""",  # noqa: S608 - clauses are ours, values are parameters
        *args,
    )
    return [Entry.from_record(row) for row in rows]


async def copy_confirmed_csv(
    conn: Conn, filters: EntryFilter, write: Callable[[bytes], Coroutine[Any, Any, None]]
) -> None:
    """Confirmed entries oldest first as CSV, written by PostgreSQL's COPY into `write`."""
    args: list[Any] = []
    where = _where(EntryFilter(None, filters.created_from, filters.created_to), args)
    query = f"""SELECT {csv_export.COLUMNS}
                FROM ledger.ledger_entries WHERE status = 'confirmed' AND {where}
                ORDER BY id"""  # noqa: S608 - clauses are ours, values are parameters
    await conn.copy_from_query(query, *args, output=write, format="csv", header=True)
