"""Topup settings, from the environment only."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import SecretStr, field_validator

from betfuz_common import jsonio
from betfuz_common.settings import DEV_MARK, CommonSettings, SecretKind
from topup.domain import Carrier, ProductType

CARRIERS: tuple[str, ...] = tuple(c.value for c in Carrier)
PRODUCT_TYPES: tuple[str, ...] = tuple(t.value for t in ProductType)

DEV_UTILITY_CODES = (
    "mtn:airtime=TOP,mtn:data=MTNDATA,airtel:airtime=AIRTELTOP,airtel:data=AIRTELDATA,"
    "glo:airtime=GLOTOP,glo:data=GLODATA,9mobile:airtime=9MOBILETOP,9mobile:data=9MOBILEDATA"
)


def parse_utility_codes(raw: str) -> dict[tuple[str, str], str]:
    """`{"mtn:airtime": "TOP", ...}` as JSON, or `mtn:airtime=TOP,mtn:data=...`; all 8 pairs."""
    text = raw.strip()
    pairs: dict[str, str]
    if text.startswith("{"):
        loaded = jsonio.loads(text)
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ValueError("must map 'carrier:type' to a utility code string")
        pairs = {str(k): v for k, v in loaded.items()}
    else:
        pairs = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, code = item.partition("=")
            if not sep:
                raise ValueError(f"expected carrier:type=CODE, got {item!r}")
            pairs[name.strip()] = code.strip()
    codes: dict[tuple[str, str], str] = {}
    for name, code in pairs.items():
        carrier, _, kind = name.partition(":")
        if carrier not in CARRIERS or kind not in PRODUCT_TYPES or not code:
            raise ValueError(f"unknown carrier/type or empty code: {name!r}")
        codes[(carrier, kind)] = code
    missing = [f"{c}:{t}" for c in CARRIERS for t in PRODUCT_TYPES if (c, t) not in codes]
    if missing:
        raise ValueError(f"no utility code for {', '.join(missing)}")
    return codes


class TopupSettings(CommonSettings):
    port: int = 8001
    selcom_api_key: SecretStr
    selcom_api_secret: SecretStr  # comma-separated during a rotation: the first one signs
    selcom_base_url: str
    selcom_vendor: str
    selcom_pin: SecretStr
    selcom_utility_codes: str
    selcom_timeout_seconds: float = 10.0
    api_base_url: str

    topup_min_amount: Decimal = Decimal("50")
    topup_max_amount: Decimal = Decimal("50000")
    # Reconciliation: 0 disables the in-process loop (tests drive it by hand).
    topup_reconcile_interval_seconds: float = 30.0
    topup_reconcile_after_seconds: float = 180.0  # query Selcom for topups pending longer
    topup_sla_seconds: float = 300.0  # still pending after this: flagged for review
    topup_reconcile_max_backoff_seconds: float = 600.0
    topup_reconcile_batch_size: int = 100

    DEV_DEFAULTS: ClassVar[dict[str, str]] = {
        "SELCOM_API_KEY": DEV_MARK + "selcom-key",
        "SELCOM_API_SECRET": DEV_MARK + "selcom-secret",
        "SELCOM_BASE_URL": "http://127.0.0.1:9101",
        "SELCOM_VENDOR": "BETFUZDEV",
        "SELCOM_PIN": DEV_MARK + "0000",
        "SELCOM_UTILITY_CODES": DEV_UTILITY_CODES,
        "API_BASE_URL": "http://127.0.0.1:8000",
    }
    SECRETS: ClassVar[dict[str, SecretKind]] = {
        "SELCOM_API_KEY": SecretKind.ISSUED,
        "SELCOM_API_SECRET": SecretKind.ISSUED,
        "SELCOM_PIN": SecretKind.PIN,
    }

    @field_validator("selcom_utility_codes")
    @classmethod
    def _codes_are_complete(cls, value: str) -> str:
        parse_utility_codes(value)
        return value

    @field_validator("topup_min_amount", "topup_max_amount")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0:
            raise ValueError("must be a positive amount")
        return value

    @property
    def utility_codes(self) -> dict[tuple[str, str], str]:
        return parse_utility_codes(self.selcom_utility_codes)
