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

The transaction listing, which reconciliation and the daily statement check read (our contract
with Wema, as account creation is):

    GET {WEMA_BASE_URL}/v1/transactions?from=<RFC 3339>&to=<RFC 3339>&page=<1, 2, ...>
    x-api-key: <WEMA_API_KEY>
    200 {"status": "success", "data": {"items": [<deposit>], "nextPage": <int> | null}}

`from` is inclusive and `to` exclusive, both on the deposit's `transaction_date`; pages start at
1 and `nextPage` is null on the last one. Each `<deposit>` has exactly the deposit webhook's
fields (`account_number`, `amount`, `transaction_reference`, `sender_name`, `sender_account`,
`sender_bank`, `narration`, `transaction_date`) and is read by the webhook's own model. Any other
answer (a timeout, a non-200, a body or an item we cannot read, a page that does not advance) is
a `ProviderError` for the whole listing: a reader of half a listing must not act on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from betfuz_common import jsonio
from betfuz_common.signatures import sign
from treasury.domain import Deposit
from treasury.schemas import DepositNotification

CREATE_PATH = "/v1/virtual-accounts"
LIST_PATH = "/v1/transactions"
# A listing longer than this many pages is refused rather than read for ever (a bank paging bug).
MAX_PAGES = 10_000


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

    async def list_transactions(self, start: datetime, end: datetime) -> list[Deposit]:
        """Every deposit Wema lists with `start <= transaction_date < end`, all pages read."""
        deposits: list[Deposit] = []
        page: int | None = 1
        while page is not None:
            items, next_page = await self._page(start, end, page)
            deposits.extend(items)
            if next_page is not None and (next_page <= page or next_page > MAX_PAGES):
                raise ProviderUnavailable(f"Wema listing pages go {page} → {next_page}")
            page = next_page
        return deposits

    async def _page(
        self, start: datetime, end: datetime, page: int
    ) -> tuple[list[Deposit], int | None]:
        params = {"from": start.isoformat(), "to": end.isoformat(), "page": str(page)}
        try:
            response = await self._http.get(
                LIST_PATH, params=params, headers={"x-api-key": self._api_key}
            )
        except httpx.TimeoutException:
            raise ProviderTimeout("Wema's listing did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"could not reach Wema ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ProviderUnavailable(f"Wema's listing answered {response.status_code}")
        return parse_listing_page(response.content)


def parse_listing_page(content: bytes) -> tuple[list[Deposit], int | None]:
    """One page: its deposits (read as the webhook reads one) and the next page's number."""
    try:
        doc: Any = jsonio.loads(content)
        if doc["status"] != "success":
            raise ValueError("status is not success")
        data = doc["data"]
        items, next_page = data["items"], data["nextPage"]
        if not isinstance(items, list):
            raise TypeError("items is not a list")
        if next_page is not None and (type(next_page) is not int or next_page < 1):
            raise TypeError("nextPage is neither a page number nor null")
        deposits = [DepositNotification.model_validate(item).deposit() for item in items]
    except ValidationError as exc:
        # Only where and what, never the values (an item carries a sender's name and account).
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors())
        raise ProviderUnavailable(f"a deposit in Wema's listing is unreadable ({where})") from None
    except (jsonio.JsonError, KeyError, TypeError, ValueError):
        raise ProviderUnavailable("Wema's listing is not the expected shape") from None
    return deposits, next_page


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
