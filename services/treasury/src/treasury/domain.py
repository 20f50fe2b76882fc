"""What treasury is about, with no HTTP and no SQL: a Wema account per user, and deposits."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from betfuz_common.models import DomainValue as Value

DepositOutcome = Literal["credited", "duplicate", "held_for_review"]
# Which path credited a deposit: Wema's notification, or reconciliation's reading of its listing
# (the notification never came, or came later).
CreditedBy = Literal["webhook", "reconciliation"]


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class AccountDetails(Value):
    """What a customer gives to open an account (validated, phone in E.164)."""

    bvn: str
    first_name: str
    last_name: str
    phone_number: str
    email: str


class Account(Value):
    """A customer's virtual account as they may see it: the BVN only masked."""

    id: str
    user_id: str
    account_number: str
    account_name: str
    bank_name: str
    bank_code: str
    balance: Decimal
    status: AccountStatus
    bvn_masked: str
    created_at: datetime


class Opened(Value):
    account: Account
    replayed: bool = False


class Deposit(Value):
    """A credit transfer into one of our accounts, as Wema reports it."""

    account_number: str
    amount: Decimal
    transaction_reference: str
    sender_name: str | None = None
    sender_account: str | None = None
    sender_bank: str | None = None
    narration: str | None = None
    transaction_date: datetime


class BankTransaction(Value):
    id: str
    type: str
    amount: Decimal
    status: str
    transaction_reference: str
    sender_name: str | None
    sender_account: str | None
    sender_bank: str | None
    narration: str | None
    transaction_date: datetime
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> BankTransaction:
        return cls.model_validate(dict(row))
