from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledger.csv_export import HEADER, csv_chunks, csv_row, neutralise


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("bet_abc123", "bet_abc123"),
        ("0xabc", "0xabc"),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_run_get_a_leading_apostrophe(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def row(slip_id: str, amount: str, block: int | None = 12345678) -> dict[str, Any]:
    return {
        "bet_slip_id": slip_id,
        "bet_hash": "7f" * 32,
        "win_amount": Decimal(amount),
        "tx_hash": "0x" + "12" * 32,
        "block_number": block,
        "created_at": datetime(2025, 1, 15, 15, 30, tzinfo=UTC),
    }


def test_a_row_has_the_spec_columns_with_whole_naira_as_integers_and_utc_z_times() -> None:
    assert csv_row(row("bet_abc123", "5000000.00")) == [
        "bet_abc123",
        "7f" * 32,
        "5000000",
        "0x" + "12" * 32,
        "12345678",
        "2025-01-15T15:30:00Z",
    ]
    assert csv_row(row("bet_x", "1000000.50"))[2] == "1000000.50"


async def rows_of(items: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in items:
        yield item


async def test_the_export_is_yielded_in_chunks_of_rows_never_as_one_piece() -> None:
    items = [row(f"bet_{i}", "1000000") for i in range(25)]

    chunks = [c async for c in csv_chunks(rows_of(items), rows_per_chunk=10)]

    assert chunks[0] == (",".join(HEADER) + "\n").encode()
    assert [c.count(b"\n") for c in chunks[1:]] == [10, 10, 5]


async def test_a_cell_with_a_comma_or_quote_is_quoted_by_the_csv_rules() -> None:
    chunks = [c async for c in csv_chunks(rows_of([row('bet,"x"', "1000000")]), rows_per_chunk=5)]
    assert chunks[1].startswith(b'"bet,""x""",')
