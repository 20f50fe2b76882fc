"""Topup settings, from the environment only."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import SecretStr, field_validator

from betfuz_common import jsonio
from betfuz_common.settings import DEV_MARK, CommonSettings, SecretKind
from topup.domain import Carrier, ProductType
from topup.routing import DEV_ROUTES, parse_routes

CARRIERS: tuple[str, ...] = tuple(c.value for c in Carrier)
PRODUCT_TYPES: tuple[str, ...] = tuple(t.value for t in ProductType)

DEV_UTILITY_CODES = (
    "mtn:airtime=TOP,mtn:data=MTNDATA,airtel:airtime=AIRTELTOP,airtel:data=AIRTELDATA,"
    "glo:airtime=GLOTOP,glo:data=GLODATA,9mobile:airtime=9MOBILETOP,9mobile:data=9MOBILEDATA"
)


# VTpass publishes its service IDs: they are its facts, not dev values (a default in prod too).
VTPASS_SERVICE_IDS = (
    "mtn:airtime=mtn,mtn:data=mtn-data,airtel:airtime=airtel,airtel:data=airtel-data,"
    "glo:airtime=glo,glo:data=glo-data,9mobile:airtime=etisalat,9mobile:data=etisalat-data"
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
    vtpass_username: str
    vtpass_password: SecretStr
    vtpass_base_url: str
    # carrier:type=serviceID, the same shape as SELCOM_UTILITY_CODES.
    vtpass_service_ids: str = VTPASS_SERVICE_IDS
    vtpass_timeout_seconds: float = 10.0
    # carrier:type=provider[,provider];... (routing.py). The dev default routes all to Selcom.
    topup_routes: str = DEV_ROUTES
    topup_breaker_threshold: int = 5  # consecutive refusals that open a provider's circuit
    topup_breaker_cooldown_seconds: float = 30.0
    topup_plans_ttl_seconds: float = 60.0  # how long a provider's plan list (prices) is used

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
        "VTPASS_USERNAME": DEV_MARK + "vtpass@betfuz.test",
        "VTPASS_PASSWORD": DEV_MARK + "vtpass-password",
        "VTPASS_BASE_URL": "http://127.0.0.1:9103",
    }
    SECRETS: ClassVar[dict[str, SecretKind]] = {
        "SELCOM_API_KEY": SecretKind.ISSUED,
        "SELCOM_API_SECRET": SecretKind.ISSUED,
        "SELCOM_PIN": SecretKind.PIN,
        "VTPASS_PASSWORD": SecretKind.ISSUED,
    }

    @field_validator("topup_routes")
    @classmethod
    def _routes_are_valid(cls, value: str) -> str:
        parse_routes(value)
        return value

    @field_validator("topup_breaker_threshold")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("topup_breaker_cooldown_seconds", "topup_plans_ttl_seconds")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if not 0 <= value < 86400:
            raise ValueError("must be between 0 and 86400 seconds")
        return value

    @field_validator("selcom_utility_codes", "vtpass_service_ids")
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

    @property
    def vtpass_ids(self) -> dict[tuple[str, str], str]:
        return parse_utility_codes(self.vtpass_service_ids)

    @property
    def routes(self) -> dict[tuple[str, str], tuple[str, ...]]:
        return parse_routes(self.topup_routes)
