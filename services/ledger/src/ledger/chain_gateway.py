"""The chain port over the BetLedger client (`ledger.chain`) plus the reads it leaves out.

Event searches and block reads go through their own AsyncWeb3 session on the same RPC URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from eth_typing import HexStr
from eth_utils.crypto import keccak
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import FilterParams

from ledger.chain import BetRecord, BetToRecord, Finality, LedgerChain, connect, open_web3
from ledger.config import LedgerSettings
from ledger.ports import ChainFactory, LedgerChainPort, Recording, TxStatus
from ledger.tx_sender import TransactionAlreadyMined

BET_RECORDED_TOPIC = "0x" + keccak(text="BetRecorded(bytes32,uint256,address)").hex()


class ChainMismatchError(RuntimeError):
    """The node serves another chain than the one configured: refuse to send anything."""


class ChainGateway:
    def __init__(
        self,
        chain: LedgerChain,
        w3: AsyncWeb3[Any],
        *,
        confirmations: int,
        use_finalized_tag: bool,
        log_block_range: int,
    ) -> None:
        self._chain = chain
        self._w3 = w3
        self._confirmations = confirmations
        self._use_finalized_tag = use_finalized_tag
        self._log_block_range = log_block_range

    @property
    def contract_address(self) -> str:
        return str(self._chain.address)

    async def latest_block(self) -> int:
        return int(await self._w3.eth.block_number)

    async def bet_exists(self, bet_hash: bytes) -> bool:
        return await self._chain.bet_exists(bet_hash)

    async def get_bet_record(self, bet_hash: bytes) -> BetRecord | None:
        return await self._chain.get_bet_record(bet_hash)

    async def record_bets(self, batch: Sequence[BetToRecord]) -> str:
        return await self._chain.record_bets(batch)

    async def wait_for_finality(self, tx_hashes: Sequence[str]) -> Finality:
        return await self._chain.wait_for_finality(*tx_hashes)

    async def tx_status(self, tx_hashes: Sequence[str]) -> TxStatus:
        status = TxStatus.UNKNOWN
        for tx_hash in tx_hashes:
            try:
                await self._w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                pass
            else:
                return TxStatus.MINED
            try:
                await self._w3.eth.get_transaction(HexStr(tx_hash))
            except TransactionNotFound:
                continue
            status = TxStatus.PENDING
        return status

    async def replace(self, tx_hash: str) -> str | None:
        try:
            return (await self._chain.replace(tx_hash)).tx_hash
        except (TransactionAlreadyMined, TransactionNotFound):
            return None

    async def find_recordings(
        self, bet_hashes: Sequence[bytes], from_block: int
    ) -> dict[bytes, Recording]:
        wanted = {"0x" + h.hex() for h in bet_hashes}
        found: dict[bytes, Recording] = {}
        if not wanted:
            return found
        latest = await self.latest_block()
        start = max(from_block, 0)
        while start <= latest and len(found) < len(wanted):
            end = min(start + self._log_block_range - 1, latest)
            params: FilterParams = {
                "address": self._chain.address,
                "fromBlock": start,
                "toBlock": end,
                "topics": [HexStr(BET_RECORDED_TOPIC), [HexStr(t) for t in sorted(wanted)]],
            }
            for log in await self._w3.eth.get_logs(params):
                bet = bytes(log["topics"][1])
                # A hash is recorded once ever; the first event is the one that counts.
                found.setdefault(
                    bet,
                    Recording(
                        tx_hash=log["transactionHash"].to_0x_hex(),
                        block_number=int(log["blockNumber"]),
                        amount_kobo=int.from_bytes(bytes(log["data"])[:32], "big"),
                    ),
                )
            start = end + 1
        return found

    async def is_final(self, block_number: int) -> bool:
        if self._use_finalized_tag:
            try:
                finalized = await self._w3.eth.get_block("finalized")
            except Web3RPCError:
                pass  # a node without the tag: count confirmations instead
            else:
                return block_number <= int(finalized["number"])
        latest = await self.latest_block()
        return latest - block_number + 1 >= self._confirmations


def chain_factory(settings: LedgerSettings) -> ChainFactory:
    """Opens a connection to the configured node and contract for one tick or one request."""

    @asynccontextmanager
    async def open_chain() -> AsyncIterator[LedgerChainPort]:
        address = settings.ledger_contract_address
        if not address:
            raise RuntimeError("LEDGER_CONTRACT_ADDRESS is not set")
        rpc_url = settings.polygon_rpc_url
        async with open_web3(rpc_url) as w3:
            chain_id = int(await w3.eth.chain_id)
            if chain_id != settings.ledger_chain_id:
                raise ChainMismatchError(
                    f"the node serves chain {chain_id}, LEDGER_CHAIN_ID is "
                    f"{settings.ledger_chain_id}"
                )
            async with connect(
                rpc_url,
                settings.ledger_private_key.get_secret_value(),
                address,
                min_priority_fee_wei=settings.min_priority_fee_wei,
                confirmations=settings.ledger_confirmations,
                use_finalized_tag=settings.ledger_use_finalized_tag,
                poll_interval=settings.ledger_poll_interval_seconds,
            ) as chain:
                yield ChainGateway(
                    chain,
                    w3,
                    confirmations=settings.ledger_confirmations,
                    use_finalized_tag=settings.ledger_use_finalized_tag,
                    log_block_range=settings.ledger_log_block_range,
                )

    return open_chain
