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
    submitted_at, confirmed_at, set_aside_at, ops_retries"""
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
    max_attempts: int | None = None,
) -> list[Entry]:
    """`failed` with the error, due again after base * 2^attempts seconds (capped). An entry
    whose attempts reach `max_attempts` is set aside instead (out of the queue until a person
    decides); those are returned, for the caller to open their cases in this transaction."""
    rows = await conn.fetch(
        f"""UPDATE ledger.ledger_entries
           SET status = 'failed', error_message = $2, attempts = attempts + 1, updated_at = $3,
               next_attempt_at = $3::timestamptz + make_interval(
                   secs => LEAST($4 * power(2, LEAST(attempts, 30)), $5)),
               set_aside_at = CASE WHEN attempts + 1 >= $6::integer THEN $3 END
           WHERE id = ANY($1::bigint[]) AND {QUEUED}
           RETURNING {ENTRY_COLUMNS}""",  # noqa: S608 - fixed column list, values are parameters
        list(ids),
        error,
        now,
        retry_base_seconds,
        retry_max_seconds,
        max_attempts,
    )
    return [Entry.from_record(row) for row in rows if row["set_aside_at"] is not None]


async def set_aside(
    conn: Conn, refusals: Sequence[tuple[int, str]], *, now: datetime
) -> list[Entry]:
    """(entry id, error) for each entry that can never be recorded: `failed` with its error, out
    of the queue for good (no backoff brings it back), kept for a person to decide on. Returns
    the entries set aside, for the caller to open their cases in this transaction."""
    if not refusals:
        return []
    ids, errors = zip(*refusals, strict=True)
    rows = await conn.fetch(
        f"""UPDATE ledger.ledger_entries le
           SET status = 'failed', error_message = r.error, set_aside_at = $3, updated_at = $3
           FROM unnest($1::bigint[], $2::text[]) AS r(id, error)
           WHERE le.id = r.id AND le.status <> 'confirmed'
           RETURNING {", ".join("le." + c.strip() for c in ENTRY_COLUMNS.split(","))}""",  # noqa: S608
        list(ids),
        list(errors),
        now,
    )
    return [Entry.from_record(row) for row in rows]


async def fail_all_due(
    conn: Conn, *, error: str, now: datetime, retry_base_seconds: float, retry_max_seconds: float
) -> int:
    ids = await conn.fetch(
        f"SELECT id FROM ledger.ledger_entries WHERE {QUEUED} AND next_attempt_at <= $1",  # noqa: S608
        now,
    )
    # No max_attempts: a node we cannot reach says nothing about the entries (a backlog).
    await mark_failed(
        conn,
        [row["id"] for row in ids],
        error=error,
        now=now,
        retry_base_seconds=retry_base_seconds,
        retry_max_seconds=retry_max_seconds,
    )
    return len(ids)


async def count_backlog(conn: Conn) -> int:
    """Entries waiting to be recorded (the queue's partial index answers it)."""
    return int(
        await conn.fetchval(f"SELECT count(*) FROM ledger.ledger_entries WHERE {QUEUED}")  # noqa: S608
    )


# ---------------------------------------------------------------- operations


async def get_entry_by_id(conn: Conn, entry_id: int, *, lock: bool = False) -> Entry | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"SELECT {ENTRY_COLUMNS} FROM ledger.ledger_entries WHERE id = $1{suffix}",  # noqa: S608
        entry_id,
    )
    return Entry.from_record(row) if row else None


async def requeue_set_aside(conn: Conn, entry_id: int) -> Entry | None:
    """Put a set-aside entry back in the queue, due now, with a fresh count of attempts. What
    a previous run may have sent stays (`search_from_block`, `sent_tx_hashes`): the worker looks
    on chain before it sends again. None when the entry is not set aside."""
    row = await conn.fetchrow(
        f"""UPDATE ledger.ledger_entries
           SET set_aside_at = NULL, attempts = 0, next_attempt_at = now(), updated_at = now(),
               ops_retries = ops_retries + 1
           WHERE id = $1 AND status = 'failed' AND set_aside_at IS NOT NULL
           RETURNING {ENTRY_COLUMNS}""",  # noqa: S608
        entry_id,
    )
    return Entry.from_record(row) if row else None


async def requeue_confirmed(conn: Conn, entry_id: int, *, error: str) -> Entry | None:
    """Put a confirmed entry back in the queue so the worker reads its recording again from the
    chain: on chain, it is confirmed from its BetRecorded event (no send); gone, it is sent
    again. The search starts no later than anything stored (block 0 when nothing is). None when
    the entry is not confirmed."""
    row = await conn.fetchrow(
        f"""UPDATE ledger.ledger_entries
           SET status = 'failed', error_message = $2, attempts = 0, next_attempt_at = now(),
               updated_at = now(), ops_retries = ops_retries + 1,
               search_from_block = LEAST(COALESCE(search_from_block, 0),
                                         COALESCE(block_number, 0))
           WHERE id = $1 AND status = 'confirmed'
           RETURNING {ENTRY_COLUMNS}""",  # noqa: S608
        entry_id,
        error,
    )
    return Entry.from_record(row) if row else None


# ---------------------------------------------------------------- audit


async def confirmed_after(conn: Conn, *, after_id: int, limit: int) -> list[Entry]:
    rows = await conn.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM ledger.ledger_entries
            WHERE status = 'confirmed' AND id > $1 ORDER BY id LIMIT $2""",  # noqa: S608
        after_id,
        limit,
    )
    return [Entry.from_record(row) for row in rows]


async def record_audit_run(
    conn: Conn, *, started_at: datetime, checked: int, mismatches: int, cases_opened: int
) -> None:
    await conn.execute(
        """INSERT INTO ledger.audit_runs (started_at, checked, mismatches, cases_opened)
           VALUES ($1, $2, $3, $4)""",
        started_at,
        checked,
        mismatches,
        cases_opened,
    )


async def audit_figures(conn: Conn) -> tuple[int, datetime | None]:
    """Mismatches found over every audit run, and when the last one finished."""
    row = await conn.fetchrow(
        "SELECT COALESCE(sum(mismatches), 0) AS total, max(finished_at) AS last "
        "FROM ledger.audit_runs"
    )
    assert row is not None
    return int(row["total"]), row["last"]


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
