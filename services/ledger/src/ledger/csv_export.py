"""The compliance CSV: the spec's columns, streamed in chunks, formula cells neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from ledger.presenters import naira, utc_timestamp

HEADER = ("betSlipId", "betHash", "winAmount", "txHash", "blockNumber", "timestamp")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def csv_row(row: Any) -> list[str]:
    cells = [
        row["bet_slip_id"],
        row["bet_hash"],
        naira(row["win_amount"]),
        row["tx_hash"] or "",
        "" if row["block_number"] is None else str(row["block_number"]),
        utc_timestamp(row["created_at"]),
    ]
    return [neutralise(str(cell)) for cell in cells]


def encode_lines(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def csv_chunks(rows: AsyncIterator[Any], *, rows_per_chunk: int) -> AsyncIterator[bytes]:
    """The header, then one chunk per `rows_per_chunk` rows: never the whole file at once."""
    yield encode_lines([HEADER])
    pending: list[list[str]] = []
    async for row in rows:
        pending.append(csv_row(row))
        if len(pending) >= rows_per_chunk:
            yield encode_lines(pending)
            pending = []
    if pending:
        yield encode_lines(pending)
