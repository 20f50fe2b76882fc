"""What the ledger is about, with no HTTP and no SQL: entries for settled big wins, and what
verifying one against the chain finds."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


class EntryStatus(enum.StrEnum):
    PENDING = "pending"  # claimed, not sent yet
    SUBMITTED = "submitted"  # its recordBets transaction is sent
    CONFIRMED = "confirmed"  # that transaction is final
    FAILED = "failed"  # retried with backoff, or set aside for good when it can never be recorded


@dataclass(frozen=True)
class Entry:
    id: int
    bet_slip_id: str
    bet_hash: str  # 64 hex characters
    win_amount: Decimal
    network: str
    status: EntryStatus
    tx_hash: str | None
    block_number: int | None
    sent_tx_hashes: tuple[str, ...]
    search_from_block: int | None
    attempts: int
    next_attempt_at: datetime
    error_message: str | None
    created_at: datetime
    submitted_at: datetime | None
    confirmed_at: datetime | None
    # When the worker gave up on it for good: it can never be recorded (error_message says why).
    set_aside_at: datetime | None
    # How many times ops put it back in the queue (`retry`): each round can open its own case.
    ops_retries: int

    @property
    def bet_hash_bytes(self) -> bytes:
        return bytes.fromhex(self.bet_hash)

    @classmethod
    def from_record(cls, row: Any) -> Entry:
        values: dict[str, Any] = dict(row)
        values["sent_tx_hashes"] = tuple(values["sent_tx_hashes"])
        values["status"] = EntryStatus(values["status"])
        return cls(**values)


class CaseKind(enum.StrEnum):
    """What the ledger opens cases for (betfuz_common.ops)."""

    ENTRY_FAILING = "entry_failing"  # failed LEDGER_MAX_ATTEMPTS times: out of the queue
    ENTRY_UNRECORDABLE = "entry_unrecordable"  # no attempt could ever record it
    AUDIT_MISMATCH = "audit_mismatch"  # confirmed, yet the chain says otherwise


@dataclass(frozen=True)
class EntryFilter:
    status: EntryStatus | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class OnChain:
    contract_address: str
    bet_hash: str
    record: Any | None  # ports.BetRecord when the contract holds the bet
    tx_hash: str | None
    block_number: int | None


@dataclass(frozen=True)
class Verification:
    """The entry, what the chain holds for its bet, and each check that compares them."""

    entry: Entry
    on_chain: OnChain
    checks: dict[str, bool]

    @property
    def verified(self) -> bool:
        return all(self.checks.values())
