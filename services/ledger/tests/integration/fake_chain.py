"""An in-memory BetLedger behind the chain port, with knobs for the worker's bad days."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from ledger.ports import (
    BetRecord,
    BetToRecord,
    ChainFactory,
    Finality,
    LedgerChainPort,
    Recording,
    Replacement,
    TxStatus,
)


@dataclass
class FakeTx:
    bets: list[BetToRecord]
    state: str = "pending"  # pending | mined | dropped | replaced
    succeeded: bool = True
    block: int | None = None


@dataclass
class FakeChain:
    contract_address: str = "0x000000000000000000000000000000000000fA4e"
    block: int = 100
    final: bool = True
    mine_on_send: bool = True
    revert_on_mine: bool = False
    send_error: Exception | None = None
    records: dict[bytes, Recording] = field(default_factory=dict)
    txs: dict[str, FakeTx] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)

    def factory(self) -> ChainFactory:
        port: LedgerChainPort = self
        return lambda: nullcontext(port)

    @property
    def sent_batches(self) -> list[list[BetToRecord]]:
        return [tx.bets for tx in self.txs.values()]

    def _new_hash(self) -> str:
        return f"0x{len(self.txs) + 1:064x}"

    def mine(self, tx_hash: str) -> None:
        tx = self.txs[tx_hash]
        self.block += 1
        tx.state, tx.block, tx.succeeded = "mined", self.block, not self.revert_on_mine
        if tx.succeeded:
            for bet in tx.bets:  # the contract skips what it already holds
                self.records.setdefault(
                    bet.bet_hash, Recording(tx_hash, self.block, bet.amount_kobo)
                )

    async def latest_block(self) -> int:
        return self.block

    async def bet_exists(self, bet_hash: bytes) -> bool:
        return bet_hash in self.records

    async def get_bet_record(self, bet_hash: bytes) -> BetRecord | None:
        found = self.records.get(bet_hash)
        if found is None:
            return None
        return BetRecord(found.amount_kobo, 1_700_000_000, self.contract_address)

    async def record_bets(self, batch: Sequence[BetToRecord]) -> str:
        if self.send_error is not None:
            raise self.send_error
        tx_hash = self._new_hash()
        self.txs[tx_hash] = FakeTx(list(batch))
        if self.mine_on_send:
            self.mine(tx_hash)
        return tx_hash

    async def wait_for_finality(self, tx_hashes: Sequence[str]) -> Finality:
        for tx_hash in tx_hashes:
            tx = self.txs.get(tx_hash)
            if tx is not None and tx.state == "mined" and self.final:
                assert tx.block is not None
                return Finality(tx_hash, tx.block, tx.succeeded)
        await asyncio.Event().wait()  # never: the worker's timeout ends the wait
        raise AssertionError("unreachable")

    async def tx_status(self, tx_hashes: Sequence[str]) -> TxStatus:
        states = {self.txs[h].state for h in tx_hashes if h in self.txs}
        if "mined" in states:
            return TxStatus.MINED
        return TxStatus.PENDING if "pending" in states else TxStatus.UNKNOWN

    async def replace(self, tx_hash: str) -> Replacement | None:
        old = self.txs.get(tx_hash)
        if old is None or old.state != "pending":
            return None
        old.state = "replaced"
        new_hash = self._new_hash()
        self.txs[new_hash] = FakeTx(old.bets)
        self.replaced.append(tx_hash)
        return Replacement(new_hash, 0, 0)

    async def find_recordings(
        self, bet_hashes: Sequence[bytes], from_block: int, to_block: int | None = None
    ) -> dict[bytes, Recording]:
        last = self.block if to_block is None else to_block
        return {
            h: self.records[h]
            for h in bet_hashes
            if h in self.records and from_block <= self.records[h].block_number <= last
        }

    async def is_final(self, block_number: int) -> bool:
        return self.final
