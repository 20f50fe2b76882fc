"""Request bodies validated at the edge, and the JSON shapes the endpoints answer with."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
)

from betfuz_common.money import MoneyError, parse_naira
from betfuz_common.phones import PhoneError, normalise_ng_mobile
from treasury.bvn import is_bvn

_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_ACCOUNT_NUMBER = re.compile(r"^[0-9]{10}$")

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


class CreateAccountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bvn: StrictStr = Field(repr=False)
    first_name: StrictStr = Field(alias="firstName")
    last_name: StrictStr = Field(alias="lastName")
    phone_number: StrictStr = Field(alias="phoneNumber", repr=False)
    email: StrictStr = Field(repr=False)

    @field_validator("bvn")
    @classmethod
    def _bvn(cls, value: str) -> str:
        if not is_bvn(value):
            # Never echo the value: it may be a real BVN with a typo.
            raise ValueError("must be exactly 11 digits")
        return value

    @field_validator("first_name", "last_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return clean_name(value)

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

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            return normalise_ng_mobile(value)
        except PhoneError as exc:
            raise ValueError(str(exc)) from None


class DepositWebhook(BaseModel):
    """Wema's deposit notification, as the spec shows it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    account_number: StrictStr
    amount: Decimal
    transaction_reference: StrictStr
    sender_name: StrictStr | None = Field(default=None, max_length=200)
    sender_account: StrictStr | None = Field(default=None, max_length=20)
    sender_bank: StrictStr | None = Field(default=None, max_length=100)
    narration: StrictStr | None = Field(default=None, max_length=1000)
    transaction_date: AwareDatetime

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: object) -> Decimal:
        try:
            return parse_naira(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("account_number")
    @classmethod
    def _account_number(cls, value: str) -> str:
        if not _ACCOUNT_NUMBER.fullmatch(value):
            raise ValueError("must be 10 digits")
        return value

    @field_validator("transaction_reference")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not _REFERENCE.fullmatch(value):
            raise ValueError("must be 1-128 letters, digits or ._:/-")
        return value


def account_json(row: Any, masked_bvn: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "accountNumber": row["account_number"],
        "accountName": row["account_name"],
        "bankName": row["bank_name"],
        "bankCode": row["bank_code"],
        "balance": row["balance"],
        "status": row["status"],
        "bvn": masked_bvn,
        "createdAt": _iso(row["created_at"]),
    }


def transaction_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["type"],
        "amount": row["amount"],
        "status": row["status"],
        "transactionReference": row["transaction_reference"],
        "senderName": row["sender_name"],
        "senderAccount": row["sender_account"],
        "senderBank": row["sender_bank"],
        "narration": row["narration"],
        "transactionDate": _iso(row["transaction_date"]),
        "createdAt": _iso(row["created_at"]),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat()
