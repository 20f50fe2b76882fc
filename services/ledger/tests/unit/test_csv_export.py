from __future__ import annotations

import asyncio

import pytest

from ledger.csv_export import (
    CELLS,
    COLUMNS,
    FORMULA_TRIGGERS,
    HEADER,
    TIMESTAMP,
    TRIGGER_CODES,
    ChunkPipe,
)


def test_the_export_selects_the_spec_columns_in_order() -> None:
    assert HEADER == ("betSlipId", "betHash", "winAmount", "txHash", "blockNumber", "timestamp")
    positions = [COLUMNS.index(f'AS "{name}"') for name in HEADER]
    assert positions == sorted(positions)


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_every_formula_trigger_is_tested_by_its_code_point(trigger: str) -> None:
    assert ord(trigger) in TRIGGER_CODES
    assert f"IN ({', '.join(map(str, TRIGGER_CODES))})" in COLUMNS


def test_every_column_that_can_start_with_a_trigger_is_neutralised() -> None:
    """The cells without a guard are those nothing can make start with a trigger: bet_hash and
    win_amount by the table's CHECKs (an integration test holds them to it), the timestamp by
    to_char's digits."""
    guarded = [name for cell, name in zip(CELLS, HEADER, strict=True) if "THEN '''' ||" in cell]
    assert guarded == ["betSlipId", "txHash", "blockNumber"]
    assert CELLS[HEADER.index("betHash")] == "bet_hash"
    assert CELLS[HEADER.index("timestamp")] == TIMESTAMP


async def test_small_writes_are_coalesced_into_chunks_of_the_configured_size() -> None:
    async def produce(pipe: ChunkPipe) -> None:
        for _ in range(100):
            await pipe.write(b"x" * 10)

    chunks = [c async for c in ChunkPipe(chunk_bytes=256).stream(produce)]

    assert b"".join(chunks) == b"x" * 1000
    assert [len(c) for c in chunks] == [260, 260, 260, 220]


async def test_a_failed_producer_fails_the_stream_instead_of_ending_it_quietly() -> None:
    async def produce(pipe: ChunkPipe) -> None:
        await pipe.write(b"header\n")
        raise ConnectionError("copy broke")

    with pytest.raises(ConnectionError):
        _ = [c async for c in ChunkPipe(chunk_bytes=4).stream(produce)]


async def test_a_reader_that_stops_early_cancels_the_producer() -> None:
    cancelled = asyncio.Event()

    async def produce(pipe: ChunkPipe) -> None:
        try:
            while True:
                await pipe.write(b"row\n")
        except asyncio.CancelledError:
            cancelled.set()
            raise

    stream = ChunkPipe(chunk_bytes=8, queued_chunks=1).stream(produce)
    assert await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert cancelled.is_set()


async def test_a_slow_reader_holds_the_producer_back_so_memory_stays_bounded() -> None:
    written = 0

    async def produce(pipe: ChunkPipe) -> None:
        nonlocal written
        for _ in range(1000):
            await pipe.write(b"y" * 8)
            written += 8

    stream = ChunkPipe(chunk_bytes=8, queued_chunks=2).stream(produce)
    await anext(stream)
    await asyncio.sleep(0.05)
    # One chunk taken, two queued, one being written: the rest waits for the reader.
    assert written <= 8 * 4
    await stream.aclose()  # type: ignore[attr-defined]
