from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from web3 import AsyncWeb3
from web3.contract import AsyncContract

from betfuz_testing.anvil import DEV_PRIVATE_KEYS, Anvil, run_anvil
from ledger.artifact import load_artifact
from ledger.chain import LedgerChain, connect, deploy, open_web3

ADMIN_KEY = DEV_PRIVATE_KEYS[0]  # deploys, so it is the admin and (by default) the recorder

# Finalized = latest - 2 blocks, so finality tests mine a few blocks instead of 64.
FAST_FINALITY = ("--slots-in-an-epoch", "1")


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    with run_anvil(FAST_FINALITY) as node:
        yield node


@pytest.fixture
def own_anvil() -> Iterator[Anvil]:
    """A chain for one test alone, for tests that bend its fee market or mining."""
    with run_anvil(FAST_FINALITY) as node:
        yield node


@pytest.fixture
async def ledger_address(anvil: Anvil) -> str:
    """A freshly deployed BetLedger per test: no state leaks between tests."""
    return await deploy(anvil.rpc_url, ADMIN_KEY)


@pytest.fixture
async def chain(anvil: Anvil, ledger_address: str) -> AsyncIterator[LedgerChain]:
    async with connect(anvil.rpc_url, ADMIN_KEY, ledger_address, poll_interval=0.02) as client:
        yield client


@pytest.fixture
def contract(w3: AsyncWeb3[Any], ledger_address: str) -> AsyncContract:
    """A plain web3 binding, to call the contract the way the client never does."""
    return w3.eth.contract(address=w3.to_checksum_address(ledger_address), abi=load_artifact().abi)


@pytest.fixture
async def w3(anvil: Anvil) -> AsyncIterator[AsyncWeb3[Any]]:
    async with open_web3(anvil.rpc_url) as client:
        yield client
