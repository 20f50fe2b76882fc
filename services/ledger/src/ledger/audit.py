"""The chain audit (`python -m ledger audit`): every confirmed entry read again from the chain.

A reorg, a bug or a changed row must not go unseen: each confirmed entry is compared with what
BetLedger holds for its bet (the record's amount) and where the BetRecorded event sits (its
transaction and block), the same checks as /ledger/verify. Each disagreement is reported and
becomes an `audit_mismatch` case, in one transaction per batch with nothing else.

Bounded memory: entries are read in batches by id (keyset), the chain is asked about one batch
at a time, and a mismatch is handed to `report` as it is found, never collected. The run is
recorded in `ledger.audit_runs` only when it read everything, so the app's
`ledger_audit_last_run_timestamp_seconds` only moves for a complete audit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from betfuz_common.money import to_kobo
from ledger import cases
from ledger import repository as repo
from ledger.bet_encoding import bet_hash
from ledger.domain import Entry
from ledger.ports import BetRecord, ChainFactory, LedgerChainPort, Recording
from ledger.service import checks_against_chain
from ledger.worker import Clock, utc_now

CHAIN_READ_CONCURRENCY = 8  # parallel eth_calls: quick, yet gentle on a rate-limited RPC


@dataclass(frozen=True)
class Mismatch:
    entry: Entry
    failed: list[str]  # the checks that did not hold
    chain: dict[str, Any]  # what the chain holds: amount (kobo), tx hash, block
    case_id: int


@dataclass(frozen=True)
class AuditSummary:
    checked: int
    matched: int
    mismatched: int
    cases_opened: int


async def run_audit(
    pool: asyncpg.Pool,
    open_chain: ChainFactory,
    *,
    batch_size: int,
    report: Callable[[Mismatch], None],
    log_block_range: int = 2000,  # LEDGER_LOG_BLOCK_RANGE: the widest eth_getLogs call
    clock: Clock = utc_now,
) -> AuditSummary:
    started = clock()
    checked = mismatched = opened = 0
    after_id = 0
    async with open_chain() as chain:
        while True:
            async with pool.acquire() as conn:
                batch = await repo.confirmed_after(conn, after_id=after_id, limit=batch_size)
            if not batch:
                break
            after_id = batch[-1].id
            findings = await _compare(chain, batch, log_block_range)
            checked += len(batch)
            if findings:
                async with pool.acquire() as conn, conn.transaction():
                    for entry, failed, on_chain in findings:
                        case = await cases.audit_mismatch(conn, entry, failed, on_chain)
                        opened += case.occurrences == 1
                        report(Mismatch(entry, failed, on_chain, case.id))
                mismatched += len(findings)
    async with pool.acquire() as conn:
        await repo.record_audit_run(
            conn, started_at=started, checked=checked, mismatches=mismatched, cases_opened=opened
        )
    return AuditSummary(checked, checked - mismatched, mismatched, opened)


Finding = tuple[Entry, list[str], dict[str, Any]]


async def _compare(
    chain: LedgerChainPort, batch: Sequence[Entry], log_block_range: int
) -> list[Finding]:
    # The hash is recomputed from the bet slip id: a changed row cannot point the check at
    # another bet's record.
    expected = [bet_hash(entry.bet_slip_id) for entry in batch]
    gate = asyncio.Semaphore(CHAIN_READ_CONCURRENCY)

    async def record_of(key: bytes) -> BetRecord | None:
        async with gate:
            return await chain.get_bet_record(key)

    records = await asyncio.gather(*(record_of(key) for key in expected))
    recorded = [
        (entry, key) for entry, key, record in zip(batch, expected, records, strict=True) if record
    ]
    recordings: dict[bytes, Recording] = {}
    for start, group in _windows(recorded, log_block_range):
        end = start + log_block_range - 1  # one eth_getLogs call
        recordings |= await chain.find_recordings([key for _, key in group], start, end)
    # Not where our books say: look from the earliest block it may have been sent at, so the
    # report says where the chain has it (a mismatch either way).
    astray = [(entry, key) for entry, key in recorded if key not in recordings]
    if astray:
        since = min(
            (b for e, _ in astray for b in (e.search_from_block, e.block_number) if b is not None),
            default=0,
        )
        recordings |= await chain.find_recordings([key for _, key in astray], since)
    findings: list[Finding] = []
    for entry, key, record in zip(batch, expected, records, strict=True):
        recording = recordings.get(key)
        checks = checks_against_chain(entry, key, record, recording)
        failed = [name for name, held in checks.items() if not held]
        if failed:
            findings.append((entry, failed, _on_chain(record, recording)))
    return findings


def _windows(
    recorded: Sequence[tuple[Entry, bytes]], width: int
) -> list[tuple[int, list[tuple[Entry, bytes]]]]:
    """The recorded bets grouped by the block our books say they are in, in windows of `width`
    blocks: one eth_getLogs call each, however far apart the batch's entries were recorded (a
    batch of rare wins can span weeks of blocks; scanning all of them would be thousands of
    calls)."""
    windows: list[tuple[int, list[tuple[Entry, bytes]]]] = []
    for entry, key in sorted(recorded, key=lambda pair: pair[0].block_number or 0):
        block = entry.block_number or 0
        if windows and block - windows[-1][0] < width:
            windows[-1][1].append((entry, key))
        else:
            windows.append((block, [(entry, key)]))
    return windows


def _on_chain(record: BetRecord | None, recording: Recording | None) -> dict[str, Any]:
    return {
        "amountKobo": None if record is None else record.amount_kobo,
        "txHash": None if recording is None else recording.tx_hash,
        "blockNumber": None if recording is None else recording.block_number,
    }


def describe(mismatch: Mismatch) -> str:
    """One line per mismatch: what our books say, what the chain says."""
    entry, chain = mismatch.entry, mismatch.chain
    return (
        f"mismatch case={mismatch.case_id} entry={entry.id} betSlipId={entry.bet_slip_id} "
        f"failed={','.join(mismatch.failed)} "
        f"books: tx={entry.tx_hash} block={entry.block_number} "
        f"amountKobo={to_kobo(entry.win_amount)} betHash={entry.bet_hash} "
        f"chain: tx={chain['txHash']} block={chain['blockNumber']} "
        f"amountKobo={chain['amountKobo']}"
    )
