"""Wema Bank virtual-account client: one httpx.AsyncClient, our reference on every creation.

Wema publishes no open spec, so this mirrors its ALAT-style virtual account API loosely:

    POST {WEMA_BASE_URL}/v1/virtual-accounts
    x-api-key: <WEMA_API_KEY>
    X-Wema-Signature: hex(HMAC-SHA512(<first WEMA_SECRET_KEY>, raw body))
    {"reference", "bvn", "firstName", "lastName", "phoneNumber", "email"}

    200/201 {"status": "success", "data": {"accountNumber", "accountName", "bankCode",
                                           "bankName", "reference"}}
    400/422 {"status": "failed", "message": ...}   the details were refused; nothing was created

Wema deduplicates on `reference`: sending the same reference again returns the same account, so
a retry after a timeout can never open a second account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from betfuz_common import jsonio
from betfuz_common.signatures import sign

CREATE_PATH = "/v1/virtual-accounts"


class ProviderError(Exception):
    """Wema did not give a usable answer. The message never carries personal data."""


class ProviderTimeout(ProviderError):
    pass


class ProviderUnavailable(ProviderError):
    """5xx, connection failure, or an answer we cannot use."""


class ProviderRejected(ProviderError):
    """A definitive refusal of the details (400/422): Wema created nothing."""


@dataclass(frozen=True)
class AccountRequest:
    reference: str
    bvn: str = field(repr=False)
    first_name: str
    last_name: str
    phone_number: str = field(repr=False)
    email: str = field(repr=False)

    def body(self) -> dict[str, str]:
        return {
            "reference": self.reference,
            "bvn": self.bvn,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "phoneNumber": self.phone_number,
            "email": self.email,
        }


@dataclass(frozen=True)
class WemaAccount:
    account_number: str
    account_name: str
    bank_code: str
    reference: str


class WemaClient:
    def __init__(self, http: httpx.AsyncClient, *, api_key: str, signing_secret: bytes) -> None:
        self._http = http
        self._api_key = api_key
        self._secret = signing_secret

    async def create_virtual_account(self, request: AccountRequest) -> WemaAccount:
        raw = jsonio.dumps(request.body())
        headers = {
            "content-type": "application/json",
            "x-api-key": self._api_key,
            "x-wema-signature": sign(raw, self._secret, "sha512"),
        }
        try:
            response = await self._http.post(CREATE_PATH, content=raw, headers=headers)
        except httpx.TimeoutException:
            raise ProviderTimeout("Wema did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"could not reach Wema ({type(exc).__name__})") from None
        if response.status_code in (400, 422):
            raise ProviderRejected(f"Wema refused the account details ({response.status_code})")
        if response.status_code not in (200, 201):
            raise ProviderUnavailable(f"Wema answered {response.status_code}")
        return _parse_account(response.content, request.reference)


def _parse_account(content: bytes, reference: str) -> WemaAccount:
    try:
        doc: Any = jsonio.loads(content)
        data = doc["data"]
        account = WemaAccount(
            account_number=_text(data["accountNumber"]),
            account_name=_text(data["accountName"]),
            bank_code=_text(data.get("bankCode", "035")),
            reference=_text(data["reference"]),
        )
    except (jsonio.JsonError, KeyError, TypeError, ValueError):
        raise ProviderUnavailable("Wema's answer is not the expected shape") from None
    if account.reference != reference:
        raise ProviderUnavailable("Wema answered for a different reference")
    return account


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()
