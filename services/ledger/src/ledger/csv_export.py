"""The compliance CSV: the spec's columns, formatted by PostgreSQL's own COPY and streamed.

PostgreSQL writes the CSV (quoting, NULLs as empty cells) much faster than Python could row by
row; this module only says what each column looks like and pipes the bytes on in bounded
chunks, so memory stays constant however many entries there are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

HEADER = ("betSlipId", "betHash", "winAmount", "txHash", "blockNumber", "timestamp")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_BYTES = 64 * 1024
QUEUED_CHUNKS = 4
# The code points of FORMULA_TRIGGERS: `ascii(cell)` is one integer per cell, where
# `left(cell, 1) IN (...)` built a one-character string per cell and compared strings (about
# a tenth of a second of the server's CPU per column and million rows).
TRIGGER_CODES = tuple(ord(t) for t in FORMULA_TRIGGERS)


def _neutralised_text(expression: str) -> str:
    """A text cell that starts with a trigger gets an apostrophe in front."""
    codes = ", ".join(map(str, TRIGGER_CODES))
    return (
        f"CASE WHEN ascii({expression}) IN ({codes}) "
        f"THEN '''' || {expression} ELSE {expression} END"
    )


def _neutralised_number(number: str, text: str) -> str:
    """A number's text starts with a trigger only when the number is negative ("-5"): the test
    is on the number itself, so its text is built once per cell, not twice."""
    return f"CASE WHEN {number} < 0 THEN '''' || {text} ELSE {text} END"


# Whole Naira print as integers ("5000000", as the spec shows), kobo exactly ("1000000.50").
_AMOUNT = (
    "CASE WHEN win_amount = trunc(win_amount) THEN trunc(win_amount)::text "
    "ELSE win_amount::text END"
)
# YYYY prints digits for every timestamp PostgreSQL holds (BC years without a sign, the
# infinities as NULL): this cell can never start with a trigger, so it has no guard. Nor have
# the two the table's CHECKs keep safe: bet_hash is 64 lowercase hex digits, win_amount >= 0
# (tests/integration asserts both CHECKs refuse what would start with a trigger). Skipping
# them matters: bet_hash is CHAR(64), and its guard alone cost a third of a second per
# million rows converting it to text.
TIMESTAMP = """to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""

# The spec's columns in order, each with the guard it needs (docs/DESIGN.md, the CSV export):
# the bytes are those of the generic guard on every cell, which a test checks.
CELLS = (
    _neutralised_text("bet_slip_id"),
    "bet_hash",
    _AMOUNT,
    _neutralised_text("tx_hash"),
    _neutralised_number("block_number", "block_number::text"),
    TIMESTAMP,
)
COLUMNS = ",\n       ".join(f'{cell} AS "{name}"' for cell, name in zip(CELLS, HEADER, strict=True))


class ChunkPipe:
    """Turns COPY's many small writes into an async stream of ~CHUNK_BYTES pieces.

    The queue is bounded: when the client reads slowly, COPY's writer waits here, asyncpg stops
    reading the socket and PostgreSQL pauses. Nothing accumulates.
    """

    def __init__(self, chunk_bytes: int = CHUNK_BYTES, queued_chunks: int = QUEUED_CHUNKS) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=queued_chunks)
        self._buffer = bytearray()
        self._chunk_bytes = chunk_bytes

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self._chunk_bytes:
            await self._flush()

    async def close(self) -> None:
        if self._buffer:
            await self._flush()
        await self._queue.put(None)

    def _abort(self) -> None:
        """Wake the reader at once: what is queued is dropped, the stream is failing anyway."""
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def _flush(self) -> None:
        chunk, self._buffer = bytes(self._buffer), bytearray()
        await self._queue.put(chunk)

    async def stream(self, produce: Callable[[ChunkPipe], Awaitable[None]]) -> AsyncIterator[bytes]:
        """Runs `produce` (which writes into this pipe) and yields what it writes, in order."""

        async def run() -> None:
            try:
                await produce(self)
            except asyncio.CancelledError:
                raise  # the reader is gone: nobody waits for the end marker
            except BaseException:
                self._abort()
                raise
            await self.close()

        producer = asyncio.create_task(run())
        try:
            while (chunk := await self._queue.get()) is not None:
                yield chunk
            await producer  # surfaces a failed COPY instead of ending the file quietly
        finally:
            if not producer.done():
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer
