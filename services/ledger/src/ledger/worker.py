"""The recording worker: every tick, every settled big win without an entry goes on chain.

One tick at a time across replicas (a transaction-scoped advisory lock held on a dedicated
connection for the whole tick). A tick:

1. claims qualifying bet slips by inserting `pending` entries (ON CONFLICT DO NOTHING);
2. walks the due entries in batches of LEDGER_BATCH_SIZE;
3. sets aside, for good, every entry of the batch that can never be recorded (`bet_to_record`):
   `failed` with its error, logged and counted, never in a later batch, so it cannot hold back
   the others, which go on in the same tick;
4. for entries a previous run may already have sent (a crash can strike between the send and
   the database write), asks the chain first: recorded wins are confirmed from their
   BetRecorded event, never sent again; transactions still in flight are waited for (and
   fee-bumped when stuck);
5. sends the rest in one recordBets transaction, stores `submitted` + its hash BEFORE waiting,
   waits for finality, and stores `confirmed` with the event's transaction and block.

Any other error marks the batch `failed` with the error and a backoff; it is simply retried,
up to LEDGER_MAX_ATTEMPTS: then the entry is set aside too and becomes an `entry_failing` case,
in the same transaction (an unrecordable one becomes an `entry_unrecordable` case). An ops
`retry` puts it back in the queue.
Nothing left can fail one bet alone: step 3 applies every refusal BetLedger has for a single
bet (an amount beyond uint56, a zero hash), so what remains (the recorder role, gas, the node)
fails any batch alike. The contract skips hashes it already holds, so even a re-send can never
record a win twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar
from urllib.parse import urlsplit

import asyncpg
from prometheus_client import CollectorRegistry

from betfuz_common.db import Conn
from betfuz_common.logging import get_logger
from ledger import cases
from ledger import repository as repo
from ledger.bet_encoding import Unrecordable, bet_hash, chain_amount
from ledger.config import LedgerSettings
from ledger.domain import Entry
from ledger.metrics import LedgerMetrics
from ledger.ports import BetToRecord, ChainFactory, LedgerChainPort, TxStatus

log = get_logger("ledger.worker")
TICK_LOCK_KEY = int.from_bytes(hashlib.sha256(b"ledger:worker-tick").digest()[:8], "big") >> 1
CLAIM_CHUNK = 1000
MAX_ERROR_CHARS = 500

CHAIN_READ_CONCURRENCY = 8  # parallel eth_calls: quick, yet gentle on a rate-limited RPC

Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WorkerConfig:
    network: str = "polygon-amoy"
    min_win: Decimal = Decimal(1_000_000)
    batch_size: int = 100
    finality_timeout: float = 600.0
    # After a recording or a replacement is seen but not final yet: look again this soon.
    recheck_seconds: float = 30.0
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 10  # then the entry leaves the queue as an `entry_failing` case
    # The claim looks only at wins settled this recently (by the database's clock), except on a
    # full sweep: the first tick of a worker, then one every `claim_sweep_seconds`. A full sweep
    # reads every big win ever settled (each proven claimed through the ledger's index), a cost
    # that grows with the history; the window's does not. A win that becomes visible later than
    # the window (a platform transaction committing an hour late, a backfill) waits for the next
    # sweep: docs/DESIGN.md, the ledger's claim.
    claim_window_seconds: float = 3600.0
    claim_sweep_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: LedgerSettings) -> WorkerConfig:
        return cls(
            network=settings.ledger_network,
            min_win=settings.ledger_min_win,
            batch_size=settings.ledger_batch_size,
            finality_timeout=settings.ledger_finality_timeout_seconds,
            recheck_seconds=settings.ledger_poll_interval_seconds,
            retry_base_seconds=settings.ledger_retry_base_seconds,
            retry_max_seconds=settings.ledger_retry_max_seconds,
            max_attempts=settings.ledger_max_attempts,
        )


@dataclass
class TickResult:
    ran: bool = True  # False: another worker holds the tick
    claimed: int = 0
    confirmed: int = 0
    sent: int = 0
    waiting: int = 0
    failed: int = 0  # retried later
    set_aside: int = 0  # never retried: a person must decide
    transactions: list[str] = field(default_factory=list)


def describe_error(exc: BaseException, *, hide: Sequence[str] = ()) -> str:
    """The error for the entry's error_message and the logs, without the `hide` strings."""
    text = f"{type(exc).__name__}: {exc}"
    for secret in sorted(hide, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text[:MAX_ERROR_CHARS]


def bet_to_record(entry: Entry) -> BetToRecord:
    """What recordBets is sent for the entry; Unrecordable when no attempt could ever succeed.

    The amount must fit the contract exactly (`chain_amount`). The hash is recomputed from the
    bet slip id: a row whose stored hash differs would write this win under another bet's key
    (and a SHA-256 is never the zero hash the contract refuses).
    """
    expected = bet_hash(entry.bet_slip_id)
    if entry.bet_hash_bytes != expected:
        raise Unrecordable("the stored bet hash is not the SHA-256 of the bet slip id")
    return BetToRecord(expected, chain_amount(entry.win_amount))


def url_secrets(url: str) -> list[str]:
    """A hosted RPC URL often carries its API key in the path or the query: hide all three."""
    parts = urlsplit(url)
    return [part for part in (url, parts.path, parts.query) if len(part) > 1]


class Worker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        chain_factory: ChainFactory,
        config: WorkerConfig,
        *,
        clock: Clock = utc_now,
        hide_in_errors: Sequence[str] = (),
        metrics: LedgerMetrics | None = None,
    ) -> None:
        self._pool = pool
        self._open_chain = chain_factory
        self._config = config
        self._clock = clock
        self._hide = tuple(hide_in_errors)
        self._metrics = metrics or LedgerMetrics(CollectorRegistry())
        self._last_sweep: float | None = None  # time.monotonic() of the last full claim

    async def run_forever(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any one bad tick
                log.error("ledger_tick_crashed", error=describe_error(exc, hide=self._hide))
            await asyncio.sleep(interval_seconds)

    async def tick(self) -> TickResult:
        # A dedicated connection holds the lock in a transaction of its own for the whole tick
        # (the work runs on other connections): if this process dies, the lock goes with it.
        async with self._pool.acquire() as lock_conn, lock_conn.transaction():
            if not await repo.try_tick_lock(lock_conn, TICK_LOCK_KEY):
                log.info("ledger_tick_skipped", reason="another worker holds the tick")
                return TickResult(ran=False)
            result = await self._tick()
        self._metrics.failed.inc(result.failed)
        self._metrics.confirmed.inc(result.confirmed)
        log.info(
            "ledger_tick_done",
            claimed=result.claimed,
            sent=result.sent,
            confirmed=result.confirmed,
            waiting=result.waiting,
            failed=result.failed,
            set_aside=result.set_aside,
        )
        return result

    async def _tick(self) -> TickResult:
        result = TickResult()
        started = self._clock()
        result.claimed = await self._claim(started)
        async with self._pool.acquire() as conn:
            first = await repo.due_entries(conn, now=started, after_id=0, limit=1)
        if not first:
            return result
        try:
            async with self._open_chain() as chain:
                await self._record_due(chain, started, result)
        except Exception as exc:  # noqa: BLE001 - chain unreachable: everything due stays retryable
            error = describe_error(exc, hide=self._hide)
            log.warning("ledger_chain_unavailable", error=error)
            async with self._pool.acquire() as conn:
                result.failed += await repo.fail_all_due(
                    conn,
                    error=error,
                    now=self._clock(),
                    retry_base_seconds=self._config.retry_base_seconds,
                    retry_max_seconds=self._config.retry_max_seconds,
                )
        return result

    async def _claim(self, now: datetime) -> int:
        sweep = (
            self._last_sweep is None
            or time.monotonic() - self._last_sweep >= self._config.claim_sweep_seconds
        )
        window = None if sweep else self._config.claim_window_seconds
        claimed = 0
        while True:
            async with self._pool.acquire() as conn:
                count = await repo.claim_qualifying_slips(
                    conn,
                    min_win=self._config.min_win,
                    network=self._config.network,
                    now=now,
                    limit=CLAIM_CHUNK,
                    settled_within_seconds=window,
                )
            claimed += count
            if count < CLAIM_CHUNK:
                break
        if sweep:
            self._last_sweep = time.monotonic()
        return claimed

    async def _record_due(
        self, chain: LedgerChainPort, started: datetime, result: TickResult
    ) -> None:
        after_id = 0
        while True:
            async with self._pool.acquire() as conn:
                batch = await repo.due_entries(
                    conn, now=started, after_id=after_id, limit=self._config.batch_size
                )
            if not batch:
                return
            after_id = batch[-1].id
            try:
                # From here on the batch is what can be recorded: only that is failed below.
                batch = await self._set_aside_unrecordable(batch, result)
                await self._record_batch(chain, batch, result)
            except Exception as exc:  # noqa: BLE001 - recorded as the entries' error, retried
                error = describe_error(exc, hide=self._hide)
                log.warning("ledger_batch_failed", entries=len(batch), error=error)
                await self._fail(batch, error, result)

    async def _set_aside_unrecordable(
        self, batch: Sequence[Entry], result: TickResult
    ) -> list[Entry]:
        """Take out of the queue, for good, the entries no attempt could ever record; returns
        the others. Each is a settled win missing from the record: logged as an error and
        counted, kept with its reason for a person to decide on."""
        recordable: list[Entry] = []
        refusals: list[tuple[int, str]] = []
        for entry in batch:
            try:
                bet_to_record(entry)
            except Unrecordable as exc:
                error = describe_error(exc)
                log.error(
                    "ledger_entry_set_aside",
                    bet_slip_id=entry.bet_slip_id,
                    win_amount=str(entry.win_amount),
                    error=error,
                )
                refusals.append((entry.id, error))
            else:
                recordable.append(entry)
        if refusals:
            async with self._pool.acquire() as conn, conn.transaction():
                set_aside = await repo.set_aside(conn, refusals, now=self._clock())
                await cases.entries_unrecordable(conn, set_aside)
            self._metrics.set_aside.inc(len(refusals))
            result.set_aside += len(refusals)
        return recordable

    async def _record_batch(
        self, chain: LedgerChainPort, batch: Sequence[Entry], result: TickResult
    ) -> None:
        maybe_sent = [e for e in batch if e.search_from_block is not None]
        to_send = [e for e in batch if e.search_from_block is None]
        if maybe_sent:
            to_send += await self._recover(chain, maybe_sent, result)
        if to_send:
            await self._send(chain, to_send, result)

    async def _recover(
        self, chain: LedgerChainPort, entries: Sequence[Entry], result: TickResult
    ) -> list[Entry]:
        """Settle what a previous run may have sent; returns the entries that need a send.

        On chain -> confirmed from its event, never sent again. Not on chain with a transaction
        the node still holds unmined -> waited for (fees bumped when stuck). Otherwise (never
        sent, dropped, or mined without recording it) -> sent again.
        """
        exists = await _bounded_gather(chain.bet_exists(e.bet_hash_bytes) for e in entries)
        on_chain = [e for e, known in zip(entries, exists, strict=True) if known]
        in_flight: dict[tuple[str, ...], list[Entry]] = {}
        resend: list[Entry] = []
        for entry, known in zip(entries, exists, strict=True):
            if known:
                continue
            if entry.sent_tx_hashes:
                in_flight.setdefault(entry.sent_tx_hashes, []).append(entry)
            else:
                resend.append(entry)
        if on_chain:
            await self._confirm_recorded(chain, on_chain, result)
        for tx_hashes, group in in_flight.items():
            if await chain.tx_status(tx_hashes) is TxStatus.PENDING:
                await self._await_final(chain, group, tx_hashes, result)
            else:
                resend.extend(group)
        return resend

    async def _send(
        self, chain: LedgerChainPort, entries: Sequence[Entry], result: TickResult
    ) -> None:
        ids = [e.id for e in entries]
        from_block = await chain.latest_block()
        async with self._pool.acquire() as conn:
            await repo.mark_sending(conn, ids, from_block=from_block, now=self._clock())
        bets = [bet_to_record(e) for e in entries]
        tx_hash = await chain.record_bets(bets)
        async with self._pool.acquire() as conn:
            await repo.mark_submitted(conn, ids, tx_hash=tx_hash, now=self._clock())
        log.info("ledger_batch_sent", tx_hash=tx_hash, entries=len(ids))
        result.sent += len(ids)
        result.transactions.append(tx_hash)
        sent = [_with_search_from(e, from_block) for e in entries]
        await self._await_final(chain, sent, (tx_hash,), result)

    async def _await_final(
        self,
        chain: LedgerChainPort,
        entries: Sequence[Entry],
        tx_hashes: Sequence[str],
        result: TickResult,
    ) -> None:
        try:
            async with asyncio.timeout(self._config.finality_timeout):
                final = await chain.wait_for_finality(tx_hashes)
        except TimeoutError:
            await self._unstick(chain, entries, tx_hashes, result)
            return
        self._metrics.spent(final.gas_used, final.gas_price_wei)
        if not final.succeeded:
            await self._fail(entries, f"transaction {final.tx_hash} reverted", result)
            return
        await self._confirm_recorded(chain, entries, result)

    async def _unstick(
        self,
        chain: LedgerChainPort,
        entries: Sequence[Entry],
        tx_hashes: Sequence[str],
        result: TickResult,
    ) -> None:
        """Not final in time: a transaction still unmined gets its fees bumped."""
        replaced = await chain.replace(tx_hashes[-1])
        replacement = None if replaced is None else replaced.tx_hash
        if replacement is not None:
            log.warning("ledger_tx_replaced", old=tx_hashes[-1], new=replacement)
            result.transactions.append(replacement)
        async with self._pool.acquire() as conn:
            await repo.wait_again(
                conn,
                [e.id for e in entries],
                next_attempt_at=self._later(self._config.recheck_seconds),
                now=self._clock(),
                tx_hash=replacement,
            )
        result.waiting += len(entries)

    async def _confirm_recorded(
        self, chain: LedgerChainPort, entries: Sequence[Entry], result: TickResult
    ) -> None:
        """Confirm entries from their BetRecorded events once those blocks are final."""
        from_block = min(e.search_from_block or 0 for e in entries)
        recordings = await chain.find_recordings([e.bet_hash_bytes for e in entries], from_block)
        final_blocks: dict[int, bool] = {}
        confirmed: list[tuple[int, str, int]] = []
        waiting: list[Entry] = []
        missing: list[Entry] = []
        for entry in entries:
            found = recordings.get(entry.bet_hash_bytes)
            if found is None:
                missing.append(entry)
                continue
            block = found.block_number
            if block not in final_blocks:
                final_blocks[block] = await chain.is_final(block)
            if final_blocks[block]:
                confirmed.append((entry.id, found.tx_hash, block))
            else:
                waiting.append(entry)
        async with self._pool.acquire() as conn:
            await repo.confirm(conn, confirmed, now=self._clock())
            if waiting:
                await repo.wait_again(
                    conn,
                    [e.id for e in waiting],
                    next_attempt_at=self._later(self._config.recheck_seconds),
                    now=self._clock(),
                )
        result.confirmed += len(confirmed)
        result.waiting += len(waiting)
        if missing:
            await self._fail(missing, f"no BetRecorded event found from block {from_block}", result)

    async def _fail(self, entries: Sequence[Entry], error: str, result: TickResult) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            parked = await _mark_failed(conn, entries, error, self._clock(), self._config)
            # Failed past its retries: out of the queue and a case, in the same transaction.
            await cases.entries_failing(conn, parked)
        for entry in parked:
            log.error(
                "ledger_entry_failing",
                bet_slip_id=entry.bet_slip_id,
                attempts=entry.attempts,
                error=error,
            )
        result.failed += len(entries)
        result.set_aside += len(parked)

    def _later(self, seconds: float) -> datetime:
        return self._clock() + timedelta(seconds=seconds)


async def _mark_failed(
    conn: Conn, entries: Sequence[Entry], error: str, now: datetime, config: WorkerConfig
) -> list[Entry]:
    return await repo.mark_failed(
        conn,
        [e.id for e in entries],
        error=error,
        now=now,
        retry_base_seconds=config.retry_base_seconds,
        retry_max_seconds=config.retry_max_seconds,
        max_attempts=config.max_attempts,
    )


def _with_search_from(entry: Entry, from_block: int) -> Entry:
    current = entry.search_from_block
    return replace(
        entry, search_from_block=from_block if current is None else min(current, from_block)
    )


async def _bounded_gather(calls: Iterable[Awaitable[T]]) -> list[T]:
    gate = asyncio.Semaphore(CHAIN_READ_CONCURRENCY)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))
