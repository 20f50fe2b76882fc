"""BetLedger and its chain client against a real anvil node over JSON-RPC."""

import argparse
import asyncio
import os
from typing import Any

import pytest
from eth_account import Account
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractCustomError, TransactionNotFound
from web3.types import RPCEndpoint, TxReceipt

from betfuz_common.settings import load_settings
from betfuz_testing.anvil import DEV_ADDRESSES, DEV_PRIVATE_KEYS, Anvil
from ledger.artifact import load_artifact
from ledger.bet_encoding import MAX_KOBO, bet_hash
from ledger.chain import ContractRevert, LedgerChain, connect, deploy, open_web3
from ledger.commands import deploy_command
from ledger.config import LedgerSettings
from ledger.ports import BetToRecord
from ledger.tx_sender import GWEI, Fees, TxSender, load_account

pytestmark = pytest.mark.chain

ADMIN_KEY = DEV_PRIVATE_KEYS[0]  # the deployer (see conftest)
ADMIN = AsyncWeb3.to_checksum_address(DEV_ADDRESSES[0])
HOT_KEY, HOT = DEV_PRIVATE_KEYS[1], DEV_ADDRESSES[1]
STRANGER_KEY, STRANGER = DEV_PRIVATE_KEYS[2], DEV_ADDRESSES[2]


def fresh_bets(count: int, amount_kobo: int = 150_000_000) -> list[BetToRecord]:
    return [BetToRecord(os.urandom(32), amount_kobo + i) for i in range(count)]


async def rpc(w3: AsyncWeb3[Any], method: str, *params: Any) -> Any:
    response = await w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in response, response
    return response["result"]


async def receipt_of(w3: AsyncWeb3[Any], tx_hash: str) -> TxReceipt:
    return await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)  # type: ignore[arg-type]


def recorded_hashes(contract: AsyncContract, receipt: TxReceipt) -> list[bytes]:
    return [
        bytes(e["args"]["betHash"]) for e in contract.events.BetRecorded().process_receipt(receipt)
    ]


def selector(signature: str) -> str:
    return "0x" + function_signature_to_4byte_selector(signature).hex()


# ---------------------------------------------------------------- recording and reading


async def test_a_recorded_bet_reads_back_with_its_amount_time_and_recorder(
    chain: LedgerChain, w3: AsyncWeb3[Any], contract: AsyncContract
) -> None:
    bet = BetToRecord(bet_hash("bet_abc123"), 500_000_000)  # ₦5,000,000

    receipt = await receipt_of(w3, await chain.record_bets([bet]))

    block = await w3.eth.get_block(receipt["blockNumber"])
    record = await chain.get_bet_record(bet.bet_hash)
    assert record is not None
    assert (record.amount_kobo, record.recorded_at, record.recorder) == (
        500_000_000,
        block["timestamp"],
        ADMIN,
    )
    assert await chain.bet_exists(bet.bet_hash)
    assert recorded_hashes(contract, receipt) == [bet.bet_hash]


async def test_an_unknown_bet_does_not_exist_and_has_no_record(chain: LedgerChain) -> None:
    unknown = bet_hash("bet_never_recorded")
    assert not await chain.bet_exists(unknown)
    assert await chain.get_bet_record(unknown) is None


async def test_a_zero_amount_is_still_a_recorded_bet(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    bet = BetToRecord(bet_hash("bet_zero"), 0)
    await receipt_of(w3, await chain.record_bets([bet]))
    assert await chain.bet_exists(bet.bet_hash)
    assert await chain.get_bet_record(bet.bet_hash) is not None


async def test_recording_one_bet_twice_is_rejected_as_already_recorded(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    bet = BetToRecord(bet_hash("bet_twice"), 100_000_000)
    await receipt_of(w3, await chain.record_bet(bet))

    with pytest.raises(ContractRevert) as caught:
        await chain.record_bet(BetToRecord(bet.bet_hash, 999))

    assert caught.value.name == "AlreadyRecorded"
    assert caught.value.error_args == (bet.bet_hash,)
    record = await chain.get_bet_record(bet.bet_hash)
    assert record is not None
    assert record.amount_kobo == 100_000_000  # the first amount stands


async def test_a_batch_of_100_with_duplicates_records_only_the_new_bets(
    chain: LedgerChain, w3: AsyncWeb3[Any], contract: AsyncContract
) -> None:
    earlier = BetToRecord(bet_hash("bet_retried"), 200_000_000)
    await receipt_of(w3, await chain.record_bets([earlier]))
    new = fresh_bets(98)
    # One bet already on chain, one repeated inside the batch: neither may block the other 98.
    batch = [*new[:50], earlier, new[10], *new[50:]]
    assert len(batch) == 100

    recorded = await contract.functions.recordBets(
        [b.bet_hash for b in batch], [b.amount_kobo for b in batch]
    ).call({"from": ADMIN})
    receipt = await receipt_of(w3, await chain.record_bets(batch))

    assert recorded == 98
    assert receipt["status"] == 1
    assert recorded_hashes(contract, receipt) == [b.bet_hash for b in new]
    stats = await chain.get_stats()
    assert stats.total_bets == 1 + 98
    assert stats.total_amount_kobo == earlier.amount_kobo + sum(b.amount_kobo for b in new)


async def test_stats_count_every_bet_and_sum_every_amount(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    assert (await chain.get_stats()).total_bets == 0
    single = BetToRecord(bet_hash("bet_single"), 123)
    batches = [fresh_bets(3, 1_000), fresh_bets(7, 5_000)]

    await receipt_of(w3, await chain.record_bet(single))
    for batch in batches:
        await receipt_of(w3, await chain.record_bets(batch))

    stats = await chain.get_stats()
    assert stats.total_bets == 1 + 3 + 7
    assert stats.total_amount_kobo == 123 + sum(b.amount_kobo for b in batches[0] + batches[1])


async def test_a_batch_of_100_costs_at_most_30000_gas_per_bet(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    await receipt_of(w3, await chain.record_bets(fresh_bets(1)))  # first write of the stats slot
    receipt = await receipt_of(w3, await chain.record_bets(fresh_bets(100)))
    assert receipt["gasUsed"] / 100 <= 30_000


# ---------------------------------------------------------------- input the contract refuses


async def test_mismatched_hash_and_amount_lists_are_rejected(
    chain: LedgerChain, contract: AsyncContract
) -> None:
    record_bets = contract.functions.recordBets(fresh_bets_hashes(2), [1])
    with pytest.raises(ContractCustomError) as caught:
        await record_bets.call({"from": ADMIN})
    assert caught.value.data == selector("LengthMismatch()")


async def test_a_zero_hash_is_rejected_by_the_contract_and_by_the_client(
    chain: LedgerChain, contract: AsyncContract
) -> None:
    zero = bytes(32)
    record_bets = contract.functions.recordBets([bet_hash("ok"), zero], [1, 2])
    with pytest.raises(ContractCustomError) as caught:
        await record_bets.call({"from": ADMIN})
    assert caught.value.data == selector("ZeroHash()")

    with pytest.raises(ValueError, match="non-zero"):
        await chain.record_bets([BetToRecord(zero, 1)])


async def test_an_amount_beyond_56_bits_of_kobo_is_rejected(
    chain: LedgerChain, contract: AsyncContract
) -> None:
    record_bet = contract.functions.recordBet(bet_hash("huge"), MAX_KOBO + 1)
    with pytest.raises(ContractCustomError) as caught:
        await record_bet.call({"from": ADMIN})
    assert caught.value.data == selector("AmountTooLarge()")

    with pytest.raises(ValueError, match="out of range"):
        await chain.record_bets([BetToRecord(bet_hash("huge"), MAX_KOBO + 1)])


def fresh_bets_hashes(count: int) -> list[bytes]:
    return [b.bet_hash for b in fresh_bets(count)]


# ---------------------------------------------------------------- roles


async def test_a_stranger_without_the_recorder_role_cannot_record(
    anvil: Anvil, ledger_address: str
) -> None:
    async with connect(anvil.rpc_url, STRANGER_KEY, ledger_address) as stranger:
        with pytest.raises(ContractRevert) as caught:
            await stranger.record_bets(fresh_bets(1))
    assert caught.value.name == "Unauthorized"
    assert caught.value.error_args == (STRANGER.lower(),)


async def test_the_admin_grants_and_revokes_the_recorder_role(
    anvil: Anvil, chain: LedgerChain, ledger_address: str, w3: AsyncWeb3[Any]
) -> None:
    async with connect(anvil.rpc_url, HOT_KEY, ledger_address) as hot:
        await receipt_of(w3, await chain.grant_recorder(HOT))
        assert await chain.is_recorder(HOT)
        receipt = await receipt_of(w3, await hot.record_bets(fresh_bets(2)))
        assert receipt["status"] == 1

        await receipt_of(w3, await chain.revoke_recorder(HOT))
        assert not await chain.is_recorder(HOT)
        with pytest.raises(ContractRevert, match="Unauthorized"):
            await hot.record_bets(fresh_bets(1))


async def test_only_the_admin_can_grant_the_recorder_role(
    anvil: Anvil, ledger_address: str
) -> None:
    async with connect(anvil.rpc_url, STRANGER_KEY, ledger_address) as stranger:
        with pytest.raises(ContractRevert, match="Unauthorized"):
            await stranger.grant_recorder(STRANGER)
        assert not await stranger.is_recorder(STRANGER)


async def send_as(key: str, w3: AsyncWeb3[Any], address: str, function: str, *args: Any) -> None:
    """An operator's call the worker never makes (so the chain client has no method for it)."""
    sender = TxSender(w3, load_account(key), chain_id=await w3.eth.chain_id, min_priority_fee_wei=0)
    contract = w3.eth.contract(address=w3.to_checksum_address(address), abi=load_artifact().abi)
    tx_hash = await sender.send(to=contract.address, data=contract.encode_abi(function, list(args)))
    assert (await receipt_of(w3, tx_hash.to_0x_hex()))["status"] == 1


async def test_the_admin_role_moves_only_when_the_new_admin_accepts_it(
    anvil: Anvil,
    chain: LedgerChain,
    ledger_address: str,
    w3: AsyncWeb3[Any],
    contract: AsyncContract,
) -> None:
    await send_as(ADMIN_KEY, w3, ledger_address, "transferAdmin", HOT)
    assert await contract.functions.admin().call() == ADMIN
    assert await contract.functions.pendingAdmin().call() == HOT

    with pytest.raises(ContractCustomError) as caught:
        await send_as(STRANGER_KEY, w3, ledger_address, "acceptAdmin")
    assert str(caught.value.data).startswith(selector("Unauthorized(address)"))

    await send_as(HOT_KEY, w3, ledger_address, "acceptAdmin")
    assert await contract.functions.admin().call() == HOT
    with pytest.raises(ContractRevert, match="Unauthorized"):
        await chain.grant_recorder(STRANGER)  # the old admin lost the role
    async with connect(anvil.rpc_url, HOT_KEY, ledger_address) as new_admin:
        await receipt_of(w3, await new_admin.grant_recorder(STRANGER))
        assert await new_admin.is_recorder(STRANGER)


async def test_deploy_makes_the_deployer_admin_and_grants_the_given_recorder(
    anvil: Anvil, w3: AsyncWeb3[Any]
) -> None:
    address = await deploy(anvil.rpc_url, ADMIN_KEY, recorder=HOT)

    contract = w3.eth.contract(address=address, abi=load_artifact().abi)
    assert await contract.functions.admin().call() == ADMIN
    assert await contract.functions.isRecorder(HOT).call()
    assert not await contract.functions.isRecorder(ADMIN).call()


def test_the_deploy_command_prints_the_new_contract_address_and_never_the_key(
    anvil: Anvil, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"APP_ENV": "test", "POLYGON_RPC_URL": anvil.rpc_url, "LEDGER_PRIVATE_KEY": ADMIN_KEY}
    settings = load_settings(LedgerSettings, env)
    assert deploy_command(settings, argparse.Namespace(extra=["--wait", "10"])) == 0
    out = capsys.readouterr().out
    printed = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert AsyncWeb3.is_checksum_address(printed["LEDGER_CONTRACT_ADDRESS"])
    assert printed["LEDGER_CHAIN_ID"] == "31337"
    assert ADMIN_KEY[2:] not in out


# ---------------------------------------------------------------- fees and nonces


async def test_fees_use_the_priority_floor_and_twice_the_base_fee(
    anvil: Anvil, ledger_address: str, w3: AsyncWeb3[Any]
) -> None:
    floor = 30 * GWEI  # above anvil's 1 gwei suggestion, like Polygon's 25 gwei minimum
    async with connect(anvil.rpc_url, ADMIN_KEY, ledger_address, min_priority_fee_wei=floor) as c:
        base_fee = (await w3.eth.get_block("latest"))["baseFeePerGas"]
        assert await c.current_fees() == Fees(2 * base_fee + floor, floor)

        tx = await w3.eth.get_transaction(await c.record_bets(fresh_bets(1)))  # type: ignore[arg-type]
    assert tx["maxPriorityFeePerGas"] == floor


async def test_several_sends_in_a_row_get_consecutive_local_nonces(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    await rpc(w3, "evm_setAutomine", False)
    try:
        batches = [fresh_bets(5) for _ in range(4)]
        hashes = [await chain.record_bets(b) for b in batches]  # all pending at once
        nonces = [(await w3.eth.get_transaction(h))["nonce"] for h in hashes]  # type: ignore[arg-type]
        await rpc(w3, "evm_mine")
    finally:
        await rpc(w3, "evm_setAutomine", True)

    assert nonces == list(range(nonces[0], nonces[0] + 4))
    for tx_hash in hashes:
        assert (await receipt_of(w3, tx_hash))["status"] == 1
    assert (await chain.get_stats()).total_bets == 20


async def test_the_client_resyncs_its_nonce_after_another_sender_used_the_key(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    await receipt_of(w3, await chain.record_bets(fresh_bets(1)))  # local nonce now cached
    # Another process with the same key (a second replica, an operator) takes the next nonce.
    account = Account.from_key(ADMIN_KEY)
    transfer = account.sign_transaction(
        {
            "to": STRANGER,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 100 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "nonce": await w3.eth.get_transaction_count(ADMIN),
            "chainId": await w3.eth.chain_id,
        }
    )
    await receipt_of(w3, (await w3.eth.send_raw_transaction(transfer.raw_transaction)).to_0x_hex())

    later = fresh_bets(3)
    receipt = await receipt_of(w3, await chain.record_bets(later))

    assert receipt["status"] == 1
    assert all([await chain.bet_exists(b.bet_hash) for b in later])


# ---------------------------------------------------------------- stuck transactions


async def test_a_stuck_transaction_is_replaced_with_bumped_fees_and_the_replacement_lands(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    await rpc(w3, "evm_setAutomine", False)  # nothing gets mined until the test says so
    try:
        batch = fresh_bets(3)
        stuck = await chain.record_bets(batch)
        sent = await w3.eth.get_transaction(stuck)  # type: ignore[arg-type]
        with pytest.raises(TransactionNotFound):  # pending: no receipt yet
            await w3.eth.get_transaction_receipt(stuck)  # type: ignore[arg-type]

        replacement = await chain.replace(stuck)
        assert replacement is not None
        await rpc(w3, "anvil_mine", "0x3")  # includes it, then finalizes its block
    finally:
        await rpc(w3, "evm_setAutomine", True)
    async with asyncio.timeout(5):
        final = await chain.wait_for_finality([stuck, replacement.tx_hash])

    assert replacement.max_priority_fee_per_gas * 8 >= sent["maxPriorityFeePerGas"] * 9
    assert replacement.max_fee_per_gas * 8 >= sent["maxFeePerGas"] * 9
    replaced = await w3.eth.get_transaction(replacement.tx_hash)  # type: ignore[arg-type]
    assert (replaced["nonce"], replaced["input"]) == (sent["nonce"], sent["input"])
    assert (final.tx_hash, final.succeeded) == (replacement.tx_hash, True)
    with pytest.raises(TransactionNotFound):
        await w3.eth.get_transaction_receipt(stuck)  # type: ignore[arg-type]
    assert all([await chain.bet_exists(b.bet_hash) for b in batch])
    assert await chain.replace(replacement.tx_hash) is None  # mined: nothing to replace


async def test_a_dropped_transaction_is_sent_again_at_the_nonce_it_freed(
    own_anvil: Anvil,
) -> None:
    # Its own chain: the base-fee spike below would otherwise slow every later test.
    address = await deploy(own_anvil.rpc_url, ADMIN_KEY)
    async with (
        open_web3(own_anvil.rpc_url) as w3,
        connect(own_anvil.rpc_url, ADMIN_KEY, address, poll_interval=0.02) as chain,
    ):
        await rpc(w3, "evm_setAutomine", False)
        batch = fresh_bets(3)
        dropped = await chain.record_bets(batch)
        sent = await w3.eth.get_transaction(dropped)  # type: ignore[arg-type]
        # The base fee spikes past the transaction's maxFee; anvil then evicts it from its pool.
        await rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(sent["maxFeePerGas"] * 4))
        await rpc(w3, "evm_mine")
        assert await chain.replace(dropped) is None  # dropped by the node: send it again

        resent = await chain.record_bets(batch)  # the same batch: recordBets is idempotent
        await rpc(w3, "evm_mine")

        again = await w3.eth.get_transaction(resent)  # type: ignore[arg-type]
        assert again["nonce"] == sent["nonce"]
        assert (await receipt_of(w3, resent))["status"] == 1
        assert all([await chain.bet_exists(b.bet_hash) for b in batch])


# ---------------------------------------------------------------- finality


async def wait_in_background(chain: LedgerChain, tx_hash: str) -> "asyncio.Task[Any]":
    task = asyncio.create_task(chain.wait_for_finality([tx_hash]))
    await asyncio.sleep(0.2)  # ten polls
    return task


async def test_finality_waits_for_the_finalized_block_to_reach_the_transaction(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    tx_hash = await chain.record_bets(fresh_bets(2))
    mined_in = (await receipt_of(w3, tx_hash))["blockNumber"]

    waiting = await wait_in_background(chain, tx_hash)
    assert not waiting.done()  # anvil finalizes latest - 2 here; nothing mined yet
    await rpc(w3, "anvil_mine", "0x2")
    async with asyncio.timeout(5):
        final = await waiting

    assert (final.tx_hash, final.block_number, final.succeeded) == (tx_hash, mined_in, True)
    assert (await w3.eth.get_block("finalized"))["number"] >= mined_in


async def test_without_the_finalized_tag_finality_counts_confirmations(
    anvil: Anvil, ledger_address: str, w3: AsyncWeb3[Any]
) -> None:
    async with connect(
        anvil.rpc_url,
        ADMIN_KEY,
        ledger_address,
        use_finalized_tag=False,
        confirmations=5,
        poll_interval=0.02,
    ) as chain:
        tx_hash = await chain.record_bets(fresh_bets(1))
        mined_in = (await receipt_of(w3, tx_hash))["blockNumber"]

        waiting = await wait_in_background(chain, tx_hash)
        await rpc(w3, "anvil_mine", "0x3")  # 4 confirmations: not yet
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await rpc(w3, "anvil_mine", "0x1")
        async with asyncio.timeout(5):
            final = await waiting

    assert final.block_number == mined_in
    assert await w3.eth.block_number == mined_in + 4


async def test_finality_waits_for_a_transaction_that_is_not_mined_yet(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    await rpc(w3, "evm_setAutomine", False)
    try:
        tx_hash = await chain.record_bets(fresh_bets(1))
        waiting = await wait_in_background(chain, tx_hash)
        assert not waiting.done()
        await rpc(w3, "anvil_mine", "0x3")
        async with asyncio.timeout(5):
            final = await waiting
    finally:
        await rpc(w3, "evm_setAutomine", True)
    assert final.succeeded


async def test_a_transaction_that_reverts_on_chain_is_final_but_not_succeeded(
    chain: LedgerChain, w3: AsyncWeb3[Any]
) -> None:
    bet = BetToRecord(bet_hash("bet_raced"), 100_000_000)
    await rpc(w3, "evm_setAutomine", False)
    try:
        # Both estimates pass while neither is mined; in the block the second one reverts.
        first = await chain.record_bet(bet)
        second = await chain.record_bet(bet)
        await rpc(w3, "anvil_mine", "0x3")
    finally:
        await rpc(w3, "evm_setAutomine", True)

    async with asyncio.timeout(5):
        assert (await chain.wait_for_finality([first])).succeeded
        assert not (await chain.wait_for_finality([second])).succeeded
    assert (await chain.get_stats()).total_bets == 1
