"""Topup settings, from the environment only."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from betfuz_common.settings import DEV_MARK, CommonSettings


class TopupSettings(CommonSettings):
    port: int = 8001
    selcom_api_key: SecretStr
    selcom_api_secret: SecretStr  # comma-separated during a rotation: the first one signs
    selcom_base_url: str
    selcom_vendor: str
    selcom_pin: SecretStr
    api_base_url: str

    DEV_DEFAULTS: ClassVar[dict[str, str]] = {
        "SELCOM_API_KEY": DEV_MARK + "selcom-key",
        "SELCOM_API_SECRET": DEV_MARK + "selcom-secret",
        "SELCOM_BASE_URL": "http://127.0.0.1:9101",
        "SELCOM_VENDOR": "BETFUZDEV",
        "SELCOM_PIN": DEV_MARK + "0000",
        "API_BASE_URL": "http://127.0.0.1:8000",
    }
