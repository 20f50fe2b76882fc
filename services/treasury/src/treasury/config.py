"""Treasury settings, from the environment only."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from betfuz_common.settings import DEV_MARK, CommonSettings, SecretKind


class TreasurySettings(CommonSettings):
    port: int = 8002
    wema_api_key: SecretStr
    wema_secret_key: SecretStr  # comma-separated during a rotation; the first one signs
    wema_base_url: str
    wema_timeout_seconds: float = 15.0
    bvn_encryption_key: SecretStr
    api_base_url: str
    # Reconciliation with Wema's listing (0 disables the loop). Each tick reads from where the
    # last one stopped less the overlap (a bank can list a deposit after a later one); the first
    # tick, with nothing read yet, looks back `lookback`.
    treasury_reconcile_interval_seconds: float = Field(300.0, ge=0)
    treasury_reconcile_overlap_seconds: float = Field(3600.0, ge=0)
    treasury_reconcile_lookback_seconds: float = Field(86400.0, gt=0)

    @field_validator("treasury_reconcile_interval_seconds")
    @classmethod
    def _not_hammering_wema(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("must be 0 (no loop) or at least 1 second")
        return value

    DEV_DEFAULTS: ClassVar[dict[str, str]] = {
        "WEMA_API_KEY": DEV_MARK + "wema-key",
        "WEMA_SECRET_KEY": DEV_MARK + "wema-secret",
        "WEMA_BASE_URL": "http://127.0.0.1:9102",
        "BVN_ENCRYPTION_KEY": DEV_MARK + "bvn-key",
        "API_BASE_URL": "http://127.0.0.1:8000",
    }
    SECRETS: ClassVar[dict[str, SecretKind]] = {
        "WEMA_API_KEY": SecretKind.ISSUED,
        "WEMA_SECRET_KEY": SecretKind.ISSUED,
        "BVN_ENCRYPTION_KEY": SecretKind.GENERATED,
    }
