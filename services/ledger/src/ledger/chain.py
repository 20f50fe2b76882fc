"""The BetLedger contract on an EVM chain: the one adapter behind `ports.LedgerChainPort`.

    async with connect(rpc_url, private_key, contract_address) as chain:
        tx_hash = await chain.record_bets([BetToRecord(bet_hash(bet_id), kobo), ...])
        # store tx_hash as pending, then:
        final = await chain.wait_for_finality([tx_hash])

Re-sending a batch is always safe: ``recordBets`` skips hashes already on chain, so after a
crash or a dropped transaction the worker sends the same batch again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_typing import ChecksumAddress, HexStr
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractCustomError, TransactionNotFound, Web3RPCError
from web3.types import FilterParams, TxReceipt

from ledger.artifact import ContractArtifact, load_artifact
from ledger.bet_encoding import MAX_KOBO
from ledger.config import LedgerSettings
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
from ledger.tx_sender import (
    Fees,
    TransactionAlreadyMined,
    TxSender,
    default_min_priority_fee,
    load_account,
)

DEFAULT_CONFIRMATIONS = 64  # fallback only; Polygon PoS nodes answer the `finalized` tag
DEFAULT_LOG_BLOCK_RANGE = 2000  # the widest eth_getLogs range public RPC nodes allow
BET_RECORDED_TOPIC = "0x" + keccak(text="BetRecorded(bytes32,uint256,address)").hex()


@dataclass(frozen=True)
class LedgerStats:
    total_bets: int
    total_amount_kobo: int


class ChainMismatchError(RuntimeError):
    """The node serves another chain than the one configured: refuse to send anything."""


class ContractRevert(Exception):
    """BetLedger refused a call; ``name`` is the custom error (e.g. "Unauthorized")."""

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        rendered = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in args)
        super().__init__(f"BetLedger reverted with {name}({rendered})")
        self.name = name
        self.error_args = args


def _error_selectors(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    selectors = {}
    for item in abi:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            selectors[selector] = (item["name"], types)
    return selectors


def _validate_batch(batch: Sequence[BetToRecord]) -> None:
    # Caught here rather than by a revert: no gas, no nonce, a clear message.
    if not batch:
        raise ValueError("an empty batch records nothing")
    for bet in batch:
        if len(bet.bet_hash) != 32 or not any(bet.bet_hash):
            raise ValueError(f"bet hash must be 32 non-zero bytes: {bet.bet_hash.hex()}")
        if not 0 <= bet.amount_kobo <= MAX_KOBO:
            raise ValueError(f"amount out of range for the ledger: {bet.amount_kobo} kobo")


class LedgerChain:
    """BetLedger through one AsyncWeb3 session and one signing key."""

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        sender: TxSender,
        contract_address: str,
        *,
        artifact: ContractArtifact,
        confirmations: int = DEFAULT_CONFIRMATIONS,
        use_finalized_tag: bool = True,
        poll_interval: float = 2.0,
        log_block_range: int = DEFAULT_LOG_BLOCK_RANGE,
    ) -> None:
        self._w3 = w3
        self._sender = sender
        self._contract: AsyncContract = w3.eth.contract(
            address=w3.to_checksum_address(contract_address), abi=artifact.abi
        )
        self._errors = _error_selectors(artifact.abi)
        self._confirmations = confirmations
        self._use_finalized_tag = use_finalized_tag
        self._poll_interval = poll_interval
        self._log_block_range = log_block_range

    def __repr__(self) -> str:
        return f"LedgerChain(contract={self.address}, sender={self._sender!r})"

    @property
    def address(self) -> ChecksumAddress:
        return self._contract.address

    @property
    def contract_address(self) -> str:
        return str(self._contract.address)

    @property
    def sender_address(self) -> ChecksumAddress:
        return self._sender.address

    # ------------------------------------------------------------------ writes

    async def record_bets(self, batch: Sequence[BetToRecord]) -> str:
        """Send one ``recordBets`` transaction; returns its hash (0x-hex) once the node has it."""
        _validate_batch(batch)
        data = self._contract.encode_abi(
            "recordBets", [[b.bet_hash for b in batch], [b.amount_kobo for b in batch]]
        )
        return await self._send(data)

    async def record_bet(self, bet: BetToRecord) -> str:
        """The spec's single ``recordBet``: unlike a batch, a duplicate is refused.

        Raises ContractRevert("AlreadyRecorded") at estimate time, before anything is sent.
        """
        _validate_batch([bet])
        return await self._send(
            self._contract.encode_abi("recordBet", [bet.bet_hash, bet.amount_kobo])
        )

    async def replace(self, tx_hash: str) -> Replacement | None:
        """Re-send a stuck transaction with the same nonce and fees bumped >= 12.5%; None when
        it is no longer pending (mined, or dropped by the node)."""
        try:
            new_hash, fees = await self._sender.replace(HexBytes(tx_hash))
        except (TransactionAlreadyMined, TransactionNotFound):
            return None
        return Replacement(
            new_hash.to_0x_hex(), fees.max_fee_per_gas, fees.max_priority_fee_per_gas
        )

    async def grant_recorder(self, account: str) -> str:
        data = self._contract.encode_abi("grantRecorder", [self._w3.to_checksum_address(account)])
        return await self._send(data)

    async def revoke_recorder(self, account: str) -> str:
        data = self._contract.encode_abi("revokeRecorder", [self._w3.to_checksum_address(account)])
        return await self._send(data)

    async def current_fees(self) -> Fees:
        return await self._sender.current_fees()

    async def _send(self, data: HexStr) -> str:
        try:
            tx_hash = await self._sender.send(to=self.address, data=data)
        except ContractCustomError as exc:
            raise self._decode_revert(exc) from exc
        return tx_hash.to_0x_hex()

    def _decode_revert(self, exc: ContractCustomError) -> Exception:
        data = HexBytes(exc.data if isinstance(exc.data, str) else "0x")
        known = self._errors.get(bytes(data[:4]))
        if known is None:
            return exc
        name, types = known
        return ContractRevert(name, abi_decode(types, bytes(data[4:])))

    # ------------------------------------------------------------------ finality

    async def wait_for_finality(self, tx_hashes: Sequence[str]) -> Finality:
        """Wait until the transaction (or one of its replacements) is final.

        Final means: in a block at or below the node's ``finalized`` block; when the node
        does not answer that tag (or ``use_finalized_tag`` is off), ``confirmations``
        blocks deep. Polls forever: bound it with ``asyncio.timeout``.
        """
        hashes = tuple(tx_hashes)
        while True:
            final = await self._final_receipt(hashes)
            if final is not None:
                return final
            await asyncio.sleep(self._poll_interval)

    async def _final_receipt(self, hashes: Sequence[str]) -> Finality | None:
        found = await self._find_receipt(hashes)
        if found is None:
            return None
        tx_hash, receipt = found
        number = int(receipt["blockNumber"])
        if not await self.is_final(number):
            return None
        # A reorg can move the transaction after its receipt was read: only a receipt whose
        # block is still the canonical one at that height counts.
        block = await self._w3.eth.get_block(number)
        if block["hash"] != receipt["blockHash"]:
            return None
        return Finality(
            tx_hash=tx_hash,
            block_number=number,
            succeeded=receipt["status"] == 1,
            gas_used=int(receipt["gasUsed"]),
            gas_price_wei=int(receipt.get("effectiveGasPrice", 0)),
        )

    async def _find_receipt(self, hashes: Sequence[str]) -> tuple[str, TxReceipt] | None:
        for tx_hash in hashes:
            try:
                return tx_hash, await self._w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                continue
        return None

    async def is_final(self, block_number: int) -> bool:
        if self._use_finalized_tag:
            try:
                finalized = await self._w3.eth.get_block("finalized")
            except Web3RPCError:
                pass  # node without the tag (or without a finalized block yet): count blocks
            else:
                return block_number <= int(finalized["number"])
        latest = await self._w3.eth.block_number
        return latest - block_number + 1 >= self._confirmations

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

    # ------------------------------------------------------------------ reads

    async def latest_block(self) -> int:
        return int(await self._w3.eth.block_number)

    async def find_recordings(
        self, bet_hashes: Sequence[bytes], from_block: int, to_block: int | None = None
    ) -> dict[bytes, Recording]:
        """Each bet's first BetRecorded event from `from_block` (to `to_block`, else the head),
        in block ranges a public node accepts."""
        wanted = {"0x" + h.hex() for h in bet_hashes}
        found: dict[bytes, Recording] = {}
        if not wanted:
            return found
        latest = await self.latest_block()
        if to_block is not None:
            latest = min(latest, to_block)
        start = max(from_block, 0)
        while start <= latest and len(found) < len(wanted):
            end = min(start + self._log_block_range - 1, latest)
            params: FilterParams = {
                "address": self.address,
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

    async def bet_exists(self, bet_hash: bytes) -> bool:
        exists: bool = await self._contract.functions.betExists(bet_hash).call()
        return exists

    async def get_bet_record(self, bet_hash: bytes) -> BetRecord | None:
        amount, recorded_at, recorder = await self._contract.functions.getBetRecord(bet_hash).call()
        if int(recorder, 16) == 0:  # the contract reads unknown hashes as zeros
            return None
        return BetRecord(int(amount), int(recorded_at), str(recorder))

    async def get_stats(self) -> LedgerStats:
        total_bets, total_amount = await self._contract.functions.getStats().call()
        return LedgerStats(int(total_bets), int(total_amount))

    async def is_recorder(self, account: str) -> bool:
        address = self._w3.to_checksum_address(account)
        allowed: bool = await self._contract.functions.isRecorder(address).call()
        return allowed


@asynccontextmanager
async def open_web3(rpc_url: str) -> AsyncIterator[AsyncWeb3[AsyncHTTPProvider]]:
    w3 = AsyncWeb3(AsyncHTTPProvider(rpc_url))  # web3's default: 30 s per request
    try:
        yield w3
    finally:
        await w3.provider.disconnect()


async def _sender(
    w3: AsyncWeb3[Any], private_key: str, min_priority_fee_wei: int | None
) -> TxSender:
    account = load_account(private_key)  # before any I/O: a bad key fails fast
    chain_id = await w3.eth.chain_id
    floor = (
        default_min_priority_fee(chain_id) if min_priority_fee_wei is None else min_priority_fee_wei
    )
    return TxSender(w3, account, chain_id=chain_id, min_priority_fee_wei=floor)


@asynccontextmanager
async def connect(
    rpc_url: str,
    private_key: str,
    contract_address: str,
    *,
    expected_chain_id: int | None = None,
    min_priority_fee_wei: int | None = None,
    confirmations: int = DEFAULT_CONFIRMATIONS,
    use_finalized_tag: bool = True,
    poll_interval: float = 2.0,
    log_block_range: int = DEFAULT_LOG_BLOCK_RANGE,
) -> AsyncIterator[LedgerChain]:
    """A LedgerChain on one HTTP connection pool, closed on exit.

    ``min_priority_fee_wei`` defaults to 25 gwei on Polygon (137, 80002) and 0 elsewhere; with
    ``expected_chain_id``, a node that serves another chain is refused before anything is sent.
    """
    async with open_web3(rpc_url) as w3:
        sender = await _sender(w3, private_key, min_priority_fee_wei)
        if expected_chain_id is not None and sender.chain_id != expected_chain_id:
            raise ChainMismatchError(
                f"the node serves chain {sender.chain_id}, LEDGER_CHAIN_ID is {expected_chain_id}"
            )
        yield LedgerChain(
            w3,
            sender,
            contract_address,
            artifact=load_artifact(),
            confirmations=confirmations,
            use_finalized_tag=use_finalized_tag,
            poll_interval=poll_interval,
            log_block_range=log_block_range,
        )


def chain_factory(settings: LedgerSettings) -> ChainFactory | None:
    """Opens the configured node and contract for one tick or one request; None when no
    contract is configured."""
    address = settings.ledger_contract_address
    if not address:
        return None

    @asynccontextmanager
    async def open_chain() -> AsyncIterator[LedgerChainPort]:
        async with connect(
            settings.polygon_rpc_url,
            settings.ledger_private_key.get_secret_value(),
            address,
            expected_chain_id=settings.ledger_chain_id,
            min_priority_fee_wei=settings.min_priority_fee_wei,
            confirmations=settings.ledger_confirmations,
            use_finalized_tag=settings.ledger_use_finalized_tag,
            poll_interval=settings.ledger_poll_interval_seconds,
            log_block_range=settings.ledger_log_block_range,
        ) as chain:
            yield chain

    return open_chain


async def deploy(
    rpc_url: str,
    private_key: str,
    recorder: str | None = None,
    *,
    min_priority_fee_wei: int | None = None,
    receipt_timeout: float = 300.0,
) -> ChecksumAddress:
    """Deploy BetLedger (the key becomes its admin) and grant the recorder role.

    ``recorder`` defaults to the deploying key itself. Waits for inclusion of both
    transactions, not finality: an operator runs this once and can check the explorer.
    """
    artifact = load_artifact()
    async with open_web3(rpc_url) as w3:
        sender = await _sender(w3, private_key, min_priority_fee_wei)
        deploy_hash = await sender.send(to=None, data=HexStr(artifact.bytecode))
        receipt = await w3.eth.wait_for_transaction_receipt(deploy_hash, timeout=receipt_timeout)
        if receipt["status"] != 1 or not receipt["contractAddress"]:
            raise RuntimeError(f"BetLedger deployment failed in {deploy_hash.to_0x_hex()}")
        address = receipt["contractAddress"]
        chain = LedgerChain(w3, sender, address, artifact=artifact)
        grant_hash = await chain.grant_recorder(recorder or sender.address)
        grant = await w3.eth.wait_for_transaction_receipt(
            HexStr(grant_hash), timeout=receipt_timeout
        )
        if grant["status"] != 1:
            raise RuntimeError(f"granting the recorder role failed in {grant_hash}")
        return address
