"""Signs and sends transactions from one hot key: EIP-1559 fees, local nonces, replacement.

Nonces are numbered here, not by the node: the pending nonce is fetched once, then incremented
locally, so several sends in a row do not depend on the node's (load-balanced, possibly lagging)
view of its mempool. Any failed send forgets the local nonce, and the next send fetches it
again; a send the node rejects for its nonce is retried once with the fetched one.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound, Web3RPCError

GWEI = 10**9
# Polygon PoS validators drop transactions tipping under 25 gwei (mainnet 137, Amoy 80002).
POLYGON_CHAIN_IDS = frozenset({137, 80002})
POLYGON_MIN_PRIORITY_FEE_WEI = 25 * GWEI
# The gas estimate is taken against the latest state; the batch may land on a slightly
# different one (e.g. fewer duplicates), so leave room rather than run out of gas.
GAS_MARGIN_PERCENT = 25


class TransactionAlreadyMined(Exception):
    """A replacement was asked for a transaction that is already in a block."""


def default_min_priority_fee(chain_id: int) -> int:
    return POLYGON_MIN_PRIORITY_FEE_WEI if chain_id in POLYGON_CHAIN_IDS else 0


def load_account(private_key: str) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(private_key)
    except Exception:  # noqa: BLE001 (any parse error may quote the key: drop it and its chain)
        raise ValueError("the ledger private key is not a valid secp256k1 private key") from None
    return account


def _ceil_bump(value: int) -> int:
    # Nodes replace a pending transaction only when both fees rise by >= 10% (geth, bor);
    # 12.5% (x 9/8, rounded up) clears that with room to spare.
    return -(-value * 9 // 8)


@dataclass(frozen=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def bumped(self) -> "Fees":
        return Fees(_ceil_bump(self.max_fee_per_gas), _ceil_bump(self.max_priority_fee_per_gas))

    def at_least(self, other: "Fees") -> "Fees":
        return Fees(
            max(self.max_fee_per_gas, other.max_fee_per_gas),
            max(self.max_priority_fee_per_gas, other.max_priority_fee_per_gas),
        )


def _is_nonce_error(exc: Web3RPCError) -> bool:
    # geth/bor say "nonce too low"/"nonce too high"; anvil says "nonce too low" and
    # "Nonce too high"; none gives a distinct error code, so the message is all there is.
    return "nonce" in str(exc).lower()


class TxSender:
    def __init__(
        self,
        w3: AsyncWeb3[Any],
        account: LocalAccount,
        *,
        chain_id: int,
        min_priority_fee_wei: int,
    ) -> None:
        self._w3 = w3
        self._account = account
        self._chain_id = chain_id
        self._min_priority_fee_wei = min_priority_fee_wei
        self._next_nonce: int | None = None
        self._lock = asyncio.Lock()  # one send at a time: nonces must not race

    def __repr__(self) -> str:  # never the account: its repr path leads to the key
        return f"TxSender(address={self.address}, chain_id={self._chain_id})"

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    @property
    def chain_id(self) -> int:
        return self._chain_id

    async def current_fees(self) -> Fees:
        """maxPriorityFee = max(node suggestion, floor); maxFee = 2 x baseFee + priority.

        Twice the base fee survives six full blocks of +12.5% base-fee growth before the
        transaction stops being includable.
        """
        latest = await self._w3.eth.get_block("latest")
        base_fee = int(latest["baseFeePerGas"])
        priority = max(int(await self._w3.eth.max_priority_fee), self._min_priority_fee_wei)
        return Fees(max_fee_per_gas=2 * base_fee + priority, max_priority_fee_per_gas=priority)

    async def send(self, *, to: ChecksumAddress | None, data: HexStr) -> HexBytes:
        """Estimate, sign and send; returns the transaction hash. ``to=None`` deploys.

        A call that would revert raises web3's ContractLogicError from the estimate, before
        any nonce is used.
        """
        gas = await self._estimate_gas(to, data)
        fees = await self.current_fees()
        async with self._lock:
            try:
                return await self._send_with_next_nonce(to=to, data=data, gas=gas, fees=fees)
            except Web3RPCError as exc:
                if not _is_nonce_error(exc):
                    raise
            return await self._send_with_next_nonce(to=to, data=data, gas=gas, fees=fees)

    async def replace(self, tx_hash: HexBytes) -> tuple[HexBytes, Fees]:
        """Resend a pending transaction with the same nonce and payload, fees up >= 12.5%.

        Whichever of the two the chain includes first wins; the other can never be mined.
        Raises TransactionAlreadyMined if the original is already in a block, and web3's
        TransactionNotFound if the node no longer knows it (then simply send it again: the
        batch is idempotent on chain).
        """
        async with self._lock:
            try:
                old = await self._w3.eth.get_transaction(tx_hash)
            except TransactionNotFound:
                # Dropped from the pool: its nonce is free again, and the local count is ahead.
                self._next_nonce = None
                raise
            if old["from"] != self.address:
                raise ValueError(f"{tx_hash.to_0x_hex()} was not sent by {self.address}")
            if old.get("blockNumber") is not None:
                raise TransactionAlreadyMined(tx_hash.to_0x_hex())
            old_fees = Fees(int(old["maxFeePerGas"]), int(old["maxPriorityFeePerGas"]))
            fees = old_fees.bumped().at_least(await self.current_fees())
            to = old.get("to")
            new_hash = await self._sign_and_send(
                nonce=int(old["nonce"]),
                to=to,
                data=HexStr(old["input"].to_0x_hex()),
                gas=int(old["gas"]),
                fees=fees,
            )
            return new_hash, fees

    async def _estimate_gas(self, to: ChecksumAddress | None, data: HexStr) -> int:
        call: dict[str, Any] = {"from": self.address, "data": data}
        if to is not None:
            call["to"] = to
        estimate = await self._w3.eth.estimate_gas(call)  # type: ignore[arg-type]
        return estimate * (100 + GAS_MARGIN_PERCENT) // 100

    async def _send_with_next_nonce(
        self, *, to: ChecksumAddress | None, data: HexStr, gas: int, fees: Fees
    ) -> HexBytes:
        nonce = self._next_nonce
        if nonce is None:
            nonce = await self._w3.eth.get_transaction_count(self.address, "pending")
        self._next_nonce = None  # stays forgotten unless this send is known to have worked
        tx_hash = await self._sign_and_send(nonce=nonce, to=to, data=data, gas=gas, fees=fees)
        self._next_nonce = nonce + 1
        return tx_hash

    async def _sign_and_send(
        self, *, nonce: int, to: ChecksumAddress | None, data: HexStr, gas: int, fees: Fees
    ) -> HexBytes:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self._chain_id,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            "value": 0,
            "data": data,
        }
        if to is not None:
            tx["to"] = to
        signed = self._account.sign_transaction(tx)
        return await self._w3.eth.send_raw_transaction(signed.raw_transaction)
