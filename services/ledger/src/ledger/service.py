"""The read side: entries, the CSV export and the on-chain verification. Plain functions taking
their ports; they return domain values and raise domain errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

from betfuz_common.logging import get_logger
from betfuz_common.money import to_kobo
from betfuz_common.pagination import Slice, slice_of
from ledger import repository as repo
from ledger.bet_encoding import bet_hash
from ledger.csv_export import CHUNK_BYTES, ChunkPipe
from ledger.domain import Entry, EntryFilter, EntryStatus, OnChain, Verification
from ledger.errors import ChainNotConfigured, ChainUnavailable, EntryNotFound
from ledger.ports import BetRecord, LedgerPorts, Recording

log = get_logger("ledger")
PageKey = int  # the id of the last entry a page showed


async def list_entries(
    ports: LedgerPorts, filters: EntryFilter, limit: int, before: PageKey | None
) -> Slice[Entry, PageKey]:
    """Newest first; one extra row tells whether another page exists without a COUNT."""
    async with ports.pool.acquire() as conn:
        entries = await repo.list_entries(conn, filters, before_id=before, limit=limit + 1)
    return slice_of(entries, limit, lambda entry: entry.id)


async def get_entry(ports: LedgerPorts, bet_slip_id: str) -> Entry:
    async with ports.pool.acquire() as conn:
        entry = await repo.get_entry(conn, bet_slip_id)
    if entry is None:
        raise EntryNotFound(bet_slip_id)
    return entry


def export_csv(
    ports: LedgerPorts, filters: EntryFilter, *, chunk_bytes: int = CHUNK_BYTES
) -> AsyncIterator[bytes]:
    """Confirmed entries as CSV, in chunks of about `chunk_bytes`, never the whole file at once.

    The connection lives as long as the stream: closing the iterator (the client went away)
    cancels the COPY and returns the connection.
    """

    async def produce(pipe: ChunkPipe) -> None:
        async with ports.pool.acquire() as conn:
            await repo.copy_confirmed_csv(conn, filters, pipe.write)

    return ChunkPipe(chunk_bytes).stream(produce)


async def verify(ports: LedgerPorts, bet_slip_id: str) -> Verification:
    """Compare the database entry with what the chain holds for the bet slip, with evidence.

    The hash is recomputed from the bet slip id (not read from the row), so an altered row
    cannot point the check at another record. Only a failure to read the chain is
    ChainUnavailable (a 502); our own refusals keep their own meaning.
    """
    if ports.open_chain is None:
        raise ChainNotConfigured
    entry = await get_entry(ports, bet_slip_id)
    expected = bet_hash(bet_slip_id)
    try:
        async with ports.open_chain() as chain:
            record = await chain.get_bet_record(expected)
            known = [b for b in (entry.block_number, entry.search_from_block) if b is not None]
            recordings = (
                await chain.find_recordings([expected], min(known, default=0)) if record else {}
            )
            contract = chain.contract_address
    except Exception as exc:
        # Only the type: the message of a node's error can carry the RPC URL and its API key.
        log.warning("ledger_verify_chain_unavailable", error=type(exc).__name__)
        raise ChainUnavailable(type(exc).__name__) from exc
    recording = recordings.get(expected)
    checks = checks_against_chain(entry, expected, record, recording)
    on_chain = OnChain(
        contract_address=contract,
        bet_hash=expected.hex(),
        record=record,
        tx_hash=recording.tx_hash if recording else None,
        block_number=recording.block_number if recording else None,
    )
    return Verification(entry=entry, on_chain=on_chain, checks=checks)


def checks_against_chain(
    entry: Entry, expected: bytes, record: BetRecord | None, recording: Recording | None
) -> dict[str, bool]:
    """Each comparison of an entry with what the chain holds for its bet (`expected`: the
    SHA-256 of its bet slip id): the verify endpoint's and the audit's."""
    return {
        "bet_hash": entry.bet_hash == expected.hex(),
        "recorded_on_chain": record is not None,
        "amount": record is not None and record.amount_kobo == to_kobo(entry.win_amount),
        "tx_hash": recording is not None and recording.tx_hash == entry.tx_hash,
        "block_number": recording is not None and recording.block_number == entry.block_number,
        "status_confirmed": entry.status is EntryStatus.CONFIRMED,
    }
