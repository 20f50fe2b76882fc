"""The worker's metrics on a real chain: entries confirmed, and the gas the receipts say they
cost (what the dashboard's gas panel reads)."""

from __future__ import annotations

import asyncpg
import pytest
from eth_typing import HexStr
from prometheus_client import CollectorRegistry
from web3 import AsyncHTTPProvider, AsyncWeb3

from ledger.metrics import LedgerMetrics
from services.ledger.tests.integration.support import (
    SettingsFactory,
    add_slips,
    big_wins,
    make_worker,
)

pytestmark = pytest.mark.chain


async def test_a_tick_counts_its_confirmed_entries_and_the_gas_its_receipts_used(
    ledger_pool: asyncpg.Pool, chain_settings: SettingsFactory
) -> None:
    await add_slips(ledger_pool, big_wins(30))
    settings = chain_settings(ledger_batch_size=20)
    registry = CollectorRegistry()

    result = await make_worker(ledger_pool, settings, metrics=LedgerMetrics(registry)).tick()

    assert (result.confirmed, len(result.transactions)) == (30, 2)
    w3 = AsyncWeb3(AsyncHTTPProvider(settings.polygon_rpc_url))
    try:
        receipts = [await w3.eth.get_transaction_receipt(HexStr(tx)) for tx in result.transactions]
    finally:
        await w3.provider.disconnect()
    assert registry.get_sample_value("ledger_entries_confirmed_total") == 30
    gas = sum(int(receipt["gasUsed"]) for receipt in receipts)
    assert gas > 0
    assert registry.get_sample_value("ledger_gas_used_total") == gas
    price = registry.get_sample_value("ledger_gas_price_wei")
    assert price in {int(receipt["effectiveGasPrice"]) for receipt in receipts}
    assert registry.get_sample_value("ledger_entries_failed_total") == 0
