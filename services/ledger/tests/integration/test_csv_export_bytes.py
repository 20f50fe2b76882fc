"""The CSV export's bytes stay those of its first format (one generic guard on every cell) for
every value the table can hold, now that each column carries only the guard its type needs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from betfuz_common.db import Conn
from ledger import repository
from ledger.bet_encoding import bet_hash
from ledger.csv_export import FORMULA_TRIGGERS, HEADER
from ledger.domain import EntryFilter

# The first format, frozen: `left(cell, 1) IN (triggers)` on every column. The reference the
# faster query must match byte for byte.
_TRIGGERS = "E'=', E'+', E'-', E'@', E'\\t', E'\\r'"
_AMOUNT = (
    "CASE WHEN win_amount = trunc(win_amount) THEN trunc(win_amount)::text "
    "ELSE win_amount::text END"
)
_TIMESTAMP = """to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
REFERENCE = ", ".join(
    f"CASE WHEN left({e}, 1) IN ({_TRIGGERS}) THEN '''' || {e} ELSE {e} END AS \"{name}\""
    for e, name in zip(
        ("bet_slip_id", "bet_hash", _AMOUNT, "tx_hash", "block_number::text", _TIMESTAMP),
        HEADER,
        strict=True,
    )
)

TRICKY_IDS = [
    *(f"{t}cmd|' /C calc'!A0" for t in FORMULA_TRIGGERS),
    "plain_id",
    "with,comma",
    'with "quotes"',
    "with\nnewline",
    "with\r\ncrlf",
    "ñandú-€-日本-🎲",
    "'already-apostrophe",
    " leading space",
    "\\backslash\\",
    "٣٤٥ arabic digits",
    "",
]
TRICKY_TX = [
    None,
    "=SUM(A1)",
    "-0x1",
    "0x" + "a" * 64,
    "+1",
    "@x",
    "\tx",
    "\rx",
    "x,y",
    '"q"',
]
AMOUNTS = [Decimal("0"), Decimal("0.01"), Decimal("5000000.00"), Decimal("1000000.50")]
AMOUNTS += [Decimal("999999999999999999.99"), Decimal("NaN")]
BLOCKS = [None, 0, 1, -1, -9_223_372_036_854_775_808, 9_223_372_036_854_775_807]
DATES = [
    datetime(2025, 1, 15, 14, 30, 0, 999_999, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
]
EXTREME_DATES = ["infinity", "-infinity", "4713-01-01 00:00:00+00 BC", "294276-12-31 23:59:59+00"]


async def _insert(conn: Conn, n: int, slip_id: str, created: str) -> None:
    await conn.execute(
        """INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount, status,
               tx_hash, block_number, created_at, confirmed_at)
           VALUES ($1, $2, $3, 'confirmed', $4, $5, $6::text::timestamptz, now())""",
        slip_id,
        bet_hash(slip_id).hex(),
        AMOUNTS[n % len(AMOUNTS)],
        # evidence is required of a confirmed entry: the NULL cases go through a later UPDATE
        TRICKY_TX[n % len(TRICKY_TX)] or "0x",
        BLOCKS[n % len(BLOCKS)] if BLOCKS[n % len(BLOCKS)] is not None else 7,
        created,
    )


async def _copy(conn: Conn, query: str) -> bytes:
    out = bytearray()

    async def write(data: bytes) -> None:
        out.extend(data)

    await conn.copy_from_query(query, output=write, format="csv", header=True)
    return bytes(out)


async def test_the_export_is_byte_identical_to_the_first_format_for_tricky_values(
    ledger_pool: asyncpg.Pool,
) -> None:
    dates = [d.isoformat() for d in DATES] + EXTREME_DATES
    async with ledger_pool.acquire() as conn:
        n = 0
        for slip_id in TRICKY_IDS:
            for i, created in enumerate(dates):
                # the first of each id as it is (the empty one too), then made unique
                await _insert(conn, n, f"{slip_id}{i}" if i else slip_id, created)
                n += 1
        # A confirmed entry cannot lack its evidence; drop the CHECK for this copy of the table
        # only so the NULL cells' formatting is covered too.
        await conn.execute(
            "ALTER TABLE ledger.ledger_entries DROP CONSTRAINT confirmed_has_evidence"
        )
        await conn.execute(
            "UPDATE ledger.ledger_entries SET tx_hash = NULL, block_number = NULL WHERE id % 5 = 0"
        )
        exported = bytearray()

        async def write(data: bytes) -> None:
            exported.extend(data)

        await repository.copy_confirmed_csv(conn, EntryFilter(None, None, None), write)
        reference = await _copy(
            conn,
            f"SELECT {REFERENCE} FROM ledger.ledger_entries WHERE status = 'confirmed' ORDER BY id",  # noqa: S608 - our own constant
        )

    assert n == len(TRICKY_IDS) * len(dates)
    assert bytes(exported) == reference
    # and the cases the test is about really are in the file
    assert b"\n'=cmd|' /C calc'!A0," in reference
    assert b"\n'\tcmd|' /C calc'!A0," in reference  # a tab needs no quotes in CSV
    assert b",'-1," in reference
    assert b",'=SUM(A1)," in reference
    assert "ñandú-€-日本-🎲".encode() in reference


@pytest.mark.parametrize(
    ("column", "value"),
    [("bet_hash", "=" + "a" * 63), ("bet_hash", "-" + "a" * 63), ("win_amount", "-0.01")],
)
async def test_the_columns_exported_without_a_guard_cannot_hold_a_formula(
    ledger_pool: asyncpg.Pool, column: str, value: str
) -> None:
    """bet_hash and win_amount go out unguarded because their CHECKs refuse any value whose
    text would start with a trigger."""
    values = {"bet_hash": "a" * 64, "win_amount": "1"} | {column: value}
    async with ledger_pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                """INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount)
                   VALUES ('bet_x', $1, $2::numeric)""",
                values["bet_hash"],
                values["win_amount"],
            )
