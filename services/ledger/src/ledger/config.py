"""Ledger settings, from the environment only."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import SecretStr

from betfuz_common.settings import CommonSettings

# anvil's first well-known dev account: public knowledge, worthless anywhere but a local chain.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


class LedgerSettings(CommonSettings):
    port: int = 8003
    polygon_rpc_url: str
    ledger_private_key: SecretStr
    ledger_contract_address: str | None = None
    ledger_network: str = "polygon-amoy"
    ledger_chain_id: int = 80002
    ledger_min_win: Decimal = Decimal(1_000_000)
    ledger_interval_seconds: float = 300
    ledger_confirmations: int = 5
    ledger_batch_size: int = 100
    api_base_url: str

    DEV_DEFAULTS: ClassVar[dict[str, str]] = {
        "POLYGON_RPC_URL": "http://127.0.0.1:8545",
        "LEDGER_PRIVATE_KEY": ANVIL_DEV_KEY,
        "API_BASE_URL": "http://127.0.0.1:8000",
    }
