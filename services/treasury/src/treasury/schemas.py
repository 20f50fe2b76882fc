"""The treasury API's wire models: the one source of its requests, answers and OpenAPI schemas."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AwareDatetime, Field, StrictStr, TypeAdapter, ValidationError, field_validator

from betfuz_common.models import NotificationModel, RequestModel, ResponseModel
from betfuz_common.money import NairaIn, NairaOut
from betfuz_common.pagination import Page
from betfuz_common.phones import NigerianMobile
from betfuz_common.timestamps import Timestamp, utc_now
from treasury.bvn import is_bvn
from treasury.domain import AccountDetails, AccountStatus, Deposit

_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")

# Latin letters with their accented forms (Yorùbá's ẹ ọ ṣ, Hausa's ɓ ɗ ƙ) and combining accents;
# words joined by single spaces, hyphens or apostrophes. The OpenAPI document publishes this
# same pattern, so what the document allows and what the server accepts are one set.
_LETTER = "A-Za-zÀ-ÖØ-öø-ʯḀ-ỿ"
_MARK = "\u0300-\u036f"
NAME_PATTERN = f"^[{_LETTER}][{_LETTER}{_MARK}]*(?:[ '’-][{_LETTER}][{_LETTER}{_MARK}]*)*$"
NAME_MAX = 64
_NAME = re.compile(NAME_PATTERN)


def clean_name(raw: str) -> str:
    if not _NAME.fullmatch(raw):
        raise ValueError("must be letters, with single spaces, hyphens or apostrophes between")
    if len(raw) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    return unicodedata.normalize("NFC", raw)


class CreateAccountRequest(RequestModel):
    """POST /treasury/accounts: the spec's body."""

    bvn: Annotated[StrictStr, Field(repr=False, pattern=r"^[0-9]{11}$")]
    first_name: Annotated[StrictStr, Field(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)]
    last_name: Annotated[StrictStr, Field(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)]
    phone_number: Annotated[NigerianMobile, Field(repr=False)]
    email: Annotated[StrictStr, Field(repr=False, json_schema_extra={"format": "email"})]

    @field_validator("bvn", mode="before")
    @classmethod
    def _bvn(cls, value: object) -> object:
        if isinstance(value, str) and not is_bvn(value):
            # Never echo the value: it may be a real BVN with a typo.
            raise ValueError("must be exactly 11 digits")
        return value

    @field_validator("first_name", "last_name", mode="before")
    @classmethod
    def _name(cls, value: object) -> object:
        return clean_name(value) if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            # `test_environment` admits the reserved .test domain (for test data and fuzzers);
            # quoted local parts, IP literals and other reserved domains stay refused.
            checked = validate_email(value, check_deliverability=False, test_environment=True)
        except EmailNotValidError:
            raise ValueError("is not a valid email address") from None
        return checked.normalized

    def details(self) -> AccountDetails:
        return AccountDetails.model_validate(self.model_dump())


class AccountView(ResponseModel):
    """The spec's account answer; the BVN only masked."""

    id: str
    account_number: Annotated[str, Field(pattern=r"^[0-9]{10}$")]
    account_name: str
    bank_name: str
    bank_code: str
    balance: NairaOut
    status: AccountStatus
    bvn: Annotated[
        str, Field(validation_alias="bvn_masked", pattern=r"^\*{7}[0-9]{4}$", description="masked")
    ]
    created_at: Timestamp


class TransactionView(ResponseModel):
    id: str
    type: Literal["credit", "debit"]
    amount: NairaOut
    status: Literal["completed", "reversed"]
    transaction_reference: str
    sender_name: str | None
    sender_account: str | None
    sender_bank: str | None
    narration: str | None
    transaction_date: Timestamp
    created_at: Timestamp


class TransactionPage(Page[TransactionView]):
    pass


Reference = Annotated[StrictStr, Field(pattern=_REFERENCE.pattern)]

# The dates a bank could send for a deposit now. A notification arrives within minutes of the
# transfer; Wema's redeliveries and our re-reads of its transaction listing reach back weeks, so
# a little over a year covers every legitimate case with margin. Ahead of now by a day at most:
# Wema's clock may run ahead of ours, or a local (WAT) time be labelled UTC. Anything outside is
# not a deposit date but a mistake (0001-01-01 would be stored as -infinity and break the
# history for good): refused, and the signed notification kept raw for a person.
OLDEST_DEPOSIT = timedelta(days=400)
LATEST_DEPOSIT_AHEAD = timedelta(days=1)


class DepositNotification(NotificationModel):
    """Wema's deposit notification, as the spec shows it, in Wema's field names."""

    account_number: Annotated[StrictStr, Field(pattern=r"^[0-9]{10}$")]
    amount: NairaIn
    transaction_reference: Reference
    sender_name: Annotated[StrictStr, Field(max_length=200)] | None = None
    sender_account: Annotated[StrictStr, Field(max_length=20)] | None = None
    sender_bank: Annotated[StrictStr, Field(max_length=100)] | None = None
    narration: Annotated[StrictStr, Field(max_length=1000)] | None = None
    transaction_date: Annotated[
        AwareDatetime,
        Field(
            description=f"with a time zone; at most {OLDEST_DEPOSIT.days} days before now and "
            f"{LATEST_DEPOSIT_AHEAD.days} day after"
        ),
    ]

    @field_validator("transaction_date")
    @classmethod
    def _plausible_date(cls, value: datetime) -> datetime:
        now = utc_now()
        if not now - OLDEST_DEPOSIT <= value <= now + LATEST_DEPOSIT_AHEAD:
            raise ValueError(
                f"must be within {OLDEST_DEPOSIT.days} days before now and "
                f"{LATEST_DEPOSIT_AHEAD.days} day after"
            )
        return value

    def deposit(self) -> Deposit:
        return Deposit.model_validate(self.model_dump())


class DepositReceipt(ResponseModel):
    status: Literal["credited", "duplicate", "held_for_review"]
    transaction_reference: str


AccountNumber = Annotated[StrictStr, Field(pattern=r"^[0-9]{10}$")]
_SALVAGEABLE: dict[str, tuple[str, TypeAdapter[Any]]] = {
    # notice field -> (case ref or amount name, the type the notification itself requires)
    "transaction_reference": ("reference", TypeAdapter(Reference)),
    "account_number": ("accountNumber", TypeAdapter(AccountNumber)),
    "amount": ("amount", TypeAdapter(NairaIn)),
}


@dataclass(frozen=True)
class Salvaged:
    refs: dict[str, str] = field(default_factory=dict)
    amounts: dict[str, Decimal] = field(default_factory=dict)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key appears twice")
    return found


def salvage_refused_deposit(payload: bytes) -> Salvaged:
    """What a person can use of a signed notice we refused: each of its reference, account and
    amount that passes the notification's own rule for that field, and nothing else. A field
    that fails stays out (an ops credit then has nothing to credit); an unreadable body gives
    nothing."""
    try:
        # Not jsonio.loads: it refuses the whole body for one bad character in any field, and
        # the field at fault is usually not one of these three. Still refused: anything
        # ambiguous (a key twice, NaN), and what is not UTF-8.
        notice = json.loads(
            payload.decode("utf-8"),
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return Salvaged()
    if not isinstance(notice, dict):
        return Salvaged()
    refs: dict[str, str] = {}
    amounts: dict[str, Decimal] = {}
    for name, (label, adapter) in _SALVAGEABLE.items():
        try:
            value = adapter.validate_python(notice.get(name))
        except ValidationError:
            continue
        if isinstance(value, Decimal):
            amounts[label] = value
        else:
            refs[label] = value
    return Salvaged(refs, amounts)
