"""Ledger settings, from the environment only."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field, SecretStr

from betfuz_common.settings import CommonSettings, SecretKind

# anvil's first well-known dev account: public knowledge, worthless anywhere but a local chain.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


class LedgerSettings(CommonSettings):
    port: int = 8003
    polygon_rpc_url: str
    ledger_private_key: SecretStr
    ledger_contract_address: str | None = None
    # `deploy` grants the recorder role to this address; unset, to the deploying key itself.
    ledger_recorder_address: str | None = None
    ledger_network: str = "polygon-amoy"
    ledger_chain_id: int = 80002
    ledger_min_win: Decimal = Decimal(1_000_000)
    ledger_worker_enabled: bool = True
    ledger_interval_seconds: float = Field(300, gt=0)
    ledger_batch_size: int = Field(100, ge=1, le=500)
    # Final = at or below the node's `finalized` block; where the node has no such tag (or this
    # is off), LEDGER_CONFIRMATIONS blocks deep.
    ledger_use_finalized_tag: bool = True
    ledger_confirmations: int = Field(5, ge=1)
    # Unset: 25 gwei on Polygon (137, 80002), the node's suggestion elsewhere.
    ledger_min_priority_fee_gwei: Decimal | None = None
    # How long one tick waits for a transaction to become final before it bumps its fees.
    ledger_finality_timeout_seconds: float = Field(600, gt=0)
    ledger_poll_interval_seconds: float = Field(2.0, gt=0)
    ledger_retry_base_seconds: float = Field(30, ge=0)
    ledger_retry_max_seconds: float = Field(3600, ge=0)
    # After this many failed attempts an entry leaves the queue and becomes an `entry_failing`
    # case for ops (with the defaults, about four hours of backoff). A node that cannot be
    # reached at all counts no attempt towards it: that is a backlog, not a bad entry.
    ledger_max_attempts: int = Field(10, ge=1)
    # How often the app reads the backlog and the last audit from the database for /metrics.
    ledger_metrics_refresh_seconds: float = Field(15, gt=0)
    # Confirmed entries `python -m ledger audit` reads (and holds in memory) at a time.
    ledger_audit_batch_size: int = Field(200, ge=1, le=2000)
    # Widest eth_getLogs block range asked in one call (public RPC nodes cap it).
    ledger_log_block_range: int = Field(2000, ge=1)
    api_base_url: str

    DEV_DEFAULTS: ClassVar[dict[str, str]] = {
        "POLYGON_RPC_URL": "http://127.0.0.1:8545",
        "LEDGER_PRIVATE_KEY": ANVIL_DEV_KEY,
        "API_BASE_URL": "http://127.0.0.1:8000",
    }
    SECRETS: ClassVar[dict[str, SecretKind]] = {
        "LEDGER_PRIVATE_KEY": SecretKind.GENERATED,
        "POLYGON_RPC_URL": SecretKind.URL,  # a hosted node's URL often carries its API key
    }

    @property
    def min_priority_fee_wei(self) -> int | None:
        if self.ledger_min_priority_fee_gwei is None:
            return None
        return int(self.ledger_min_priority_fee_gwei * 10**9)
