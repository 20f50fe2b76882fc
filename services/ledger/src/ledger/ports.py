"""What the worker, the verify endpoint and the audit need from the chain, and nothing more: the
value types, the port, and the bundle of ports the service functions take.

The real thing is `chain.BetLedgerChain` over the BetLedger contract; unit tests use a fake.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import asyncpg


@dataclass(frozen=True)
class BetToRecord:
    bet_hash: bytes  # 32 bytes: ledger.bet_encoding.bet_hash(bet_id)
    amount_kobo: int


@dataclass(frozen=True)
class BetRecord:
    """What the contract holds for a bet."""

    amount_kobo: int
    recorded_at: int  # unix seconds (block timestamp)
    recorder: str


@dataclass(frozen=True)
class Recording:
    """Where a bet was written: the BetRecorded event's transaction and block."""

    tx_hash: str
    block_number: int
    amount_kobo: int


@dataclass(frozen=True)
class Finality:
    tx_hash: str  # the one that was mined: the original or one of its replacements
    block_number: int
    succeeded: bool  # receipt status; a failed transaction recorded nothing
    gas_used: int = 0  # what it cost, also when it reverted (the dashboard's gas panel)
    gas_price_wei: int = 0  # the effective price paid per unit of gas


@dataclass(frozen=True)
class Replacement:
    tx_hash: str
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class TxStatus(enum.Enum):
    UNKNOWN = "unknown"  # the node has never heard of it, or dropped it
    PENDING = "pending"  # in the mempool, not in a block yet
    MINED = "mined"


class LedgerChainPort(Protocol):
    @property
    def contract_address(self) -> str: ...

    async def latest_block(self) -> int: ...

    async def bet_exists(self, bet_hash: bytes) -> bool: ...

    async def get_bet_record(self, bet_hash: bytes) -> BetRecord | None: ...

    async def record_bets(self, batch: Sequence[BetToRecord]) -> str:
        """Send one recordBets transaction; returns its hash once the node accepted it."""
        ...

    async def wait_for_finality(self, tx_hashes: Sequence[str]) -> Finality:
        """The first of these (an original and its replacements) to be final; polls forever."""
        ...

    async def tx_status(self, tx_hashes: Sequence[str]) -> TxStatus: ...

    async def replace(self, tx_hash: str) -> Replacement | None:
        """Re-send a stuck transaction with bumped fees; None when it is no longer pending."""
        ...

    async def find_recordings(
        self, bet_hashes: Sequence[bytes], from_block: int, to_block: int | None = None
    ) -> dict[bytes, Recording]: ...

    async def is_final(self, block_number: int) -> bool: ...


# Opens a chain connection for one tick or one request; raising means "chain unreachable".
ChainFactory = Callable[[], AbstractAsyncContextManager[LedgerChainPort]]


@dataclass(frozen=True)
class LedgerPorts:
    pool: asyncpg.Pool
    open_chain: ChainFactory | None  # None: no contract configured (the API still reads)
