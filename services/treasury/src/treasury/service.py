"""Treasury rules: one Wema account per user, and each deposit credited exactly once.

No Starlette here. Provider calls happen with no transaction open and no connection held.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import asyncpg

from betfuz_common.db import Conn
from betfuz_common.logging import get_logger
from treasury import repository as repo
from treasury.bvn import BvnCipher
from treasury.errors import (
    AccountExists,
    AccountNotFound,
    BvnAlreadyLinked,
    CreationInProgress,
    InvalidCursor,
    UserNotFound,
)
from treasury.nuban import WEMA_BANK_CODE, is_valid_nuban
from treasury.provider import (
    AccountRequest,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    WemaAccount,
)
from treasury.schemas import CreateAccountRequest, DepositWebhook, account_json, transaction_json

log = get_logger("treasury")

# Longer than the Wema timeout, so a claim is never taken over while its call is still running.
DEFAULT_LEASE = timedelta(seconds=60)
BVN_HASH_CONSTRAINT = "bank_accounts_bvn_hash_key"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Every string this pattern allows decodes to a valid position, so the OpenAPI document can
# publish it and a well-formed cursor is never refused.
CURSOR_PATTERN = r"^[0-9]{1,16}\.btx_[0-9a-f]{32}$"
_CURSOR = re.compile(r"^([0-9]{1,16})\.(btx_[0-9a-f]{32})$")
DepositOutcome = Literal["credited", "duplicate", "held_for_review"]


class Wema(Protocol):
    async def create_virtual_account(self, request: AccountRequest) -> WemaAccount: ...


@dataclass(frozen=True)
class Treasury:
    """The ports the rules need; built once in the app's lifespan."""

    pool: asyncpg.Pool
    wema: Wema
    cipher: BvnCipher
    lease: timedelta = DEFAULT_LEASE

    def view(self, row: Any) -> dict[str, Any]:
        return account_json(row, self.cipher.masked(row["bvn_encrypted"], row["user_id"]))


# --- accounts ---------------------------------------------------------------------------


async def create_account(
    t: Treasury, user_id: str, details: CreateAccountRequest
) -> dict[str, Any]:
    async with t.pool.acquire() as conn:
        if not await repo.user_exists(conn, user_id):
            raise UserNotFound(user_id)
        claim = await _claim(conn, t, user_id, details)
    request = AccountRequest(
        reference=claim["reference"],
        bvn=details.bvn,
        first_name=details.first_name,
        last_name=details.last_name,
        phone_number=details.phone_number,
        email=str(details.email),
    )
    try:
        opened = _checked(await t.wema.create_virtual_account(request))
    except ProviderRejected:
        async with t.pool.acquire() as conn:
            await repo.delete_claim(conn, claim["id"])
        raise
    except ProviderError as exc:
        log.warning("wema_create_failed", account_id=claim["id"], error=str(exc))
        async with t.pool.acquire() as conn:
            await repo.release_claim(conn, claim["id"])
        raise
    return await _activate(t, claim["id"], opened)


async def _claim(
    conn: Conn, t: Treasury, user_id: str, details: CreateAccountRequest
) -> asyncpg.Record:
    # Two passes: a claim Wema refused can be deleted between our insert and our read.
    for _ in range(2):
        try:
            claimed = await repo.claim_account(
                conn,
                account_id=f"bac_{uuid.uuid4().hex}",
                user_id=user_id,
                account_name=f"{details.first_name} {details.last_name}".upper(),
                reference=f"BFZ-{uuid.uuid4().hex.upper()}",
                bvn_encrypted=t.cipher.encrypt(details.bvn, user_id),
                bvn_hash=t.cipher.fingerprint(details.bvn),
                lease=t.lease,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == BVN_HASH_CONSTRAINT:
                raise BvnAlreadyLinked() from None
            raise
        if claimed is not None:
            return claimed
        existing = await repo.account_for_user(conn, user_id)
        if existing is None:
            continue
        if existing["status"] == "creating":
            raise CreationInProgress()
        raise AccountExists(t.view(existing))
    raise CreationInProgress()


def _checked(opened: WemaAccount) -> WemaAccount:
    """Never store an account number that cannot receive a transfer."""
    if opened.bank_code.lstrip("0").zfill(3) != WEMA_BANK_CODE:
        raise ProviderUnavailable("Wema answered for another bank code")
    if not is_valid_nuban(opened.account_number, WEMA_BANK_CODE):
        raise ProviderUnavailable("Wema returned an account number that is not a valid NUBAN")
    return opened


async def _activate(t: Treasury, account_id: str, opened: WemaAccount) -> dict[str, Any]:
    async with t.pool.acquire() as conn:
        try:
            row = await repo.activate_account(
                conn, account_id, opened.account_number, opened.account_name.upper()
            )
        except asyncpg.UniqueViolationError:
            await repo.release_claim(conn, account_id)
            raise ProviderUnavailable("Wema returned an account number already in use") from None
        if row is None:  # activated by a request that took the claim over after a lost lease
            row = await repo.account_by_id(conn, account_id)
            if row is None:
                raise ProviderUnavailable("the account claim disappeared")
    log.info("account_created", account_id=account_id)
    return t.view(row)


async def get_account(t: Treasury, user_id: str) -> dict[str, Any]:
    async with t.pool.acquire() as conn:
        row = await repo.account_for_user(conn, user_id)
    if row is None or row["status"] == "creating":
        raise AccountNotFound(user_id)
    return t.view(row)


async def list_transactions(
    t: Treasury, user_id: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    after = None if cursor is None else decode_cursor(cursor)
    async with t.pool.acquire() as conn:
        account = await repo.account_for_user(conn, user_id)
        if account is None or account["status"] == "creating":
            raise AccountNotFound(user_id)
        rows = await repo.transactions_page(conn, user_id, limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor(rows[-1]["transaction_date"], rows[-1]["id"]) if more and rows else None
    )
    return [transaction_json(row) for row in rows], next_cursor


def encode_cursor(moment: datetime, row_id: str) -> str:
    """'<microseconds since the epoch>.<transaction id>': the last row the client has seen."""
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{row_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise InvalidCursor()
    micros, row_id = match.groups()
    return EPOCH + timedelta(microseconds=int(micros)), row_id


# --- deposits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hold:
    reason: str
    account_id: str | None


class _AccountChanged(Exception):
    """The account left 'active' between lookup and credit: roll back and decide again."""


class _UserMissing(Exception):
    def __init__(self, account_id: str) -> None:
        super().__init__("the account's user row is gone")
        self.account_id = account_id


async def receive_deposit(t: Treasury, deposit: DepositWebhook) -> DepositOutcome:
    async with t.pool.acquire() as conn:
        for _ in range(2):
            try:
                decision = await _credit_once(conn, deposit)
            except _AccountChanged:
                continue
            except _UserMissing as missing:
                decision = _Hold("user_missing", missing.account_id)
            if isinstance(decision, _Hold):
                return await _hold(conn, deposit, decision)
            return decision
        raise RuntimeError("the account's status kept changing during a deposit")


async def _credit_once(
    conn: Conn, deposit: DepositWebhook
) -> Literal["credited", "duplicate"] | _Hold:
    """ONE transaction: the row, both balances and the notification commit together or not at all.

    Lock order is always bank_transactions (unique index) -> bank_accounts -> users, so
    concurrent deliveries queue instead of deadlocking.
    """
    async with conn.transaction():
        account = await repo.account_for_number(conn, deposit.account_number)
        if account is None:
            return _Hold("unknown_account", None)
        if account["status"] != "active":
            return _Hold(f"account_{account['status']}", account["id"])
        transaction_id = f"btx_{uuid.uuid4().hex}"
        if not await repo.insert_credit(conn, transaction_id, account, deposit):
            log.info("deposit_duplicate", reference=deposit.transaction_reference)
            return "duplicate"
        account_balance = await repo.credit_account(conn, account["id"], deposit.amount)
        if account_balance is None:
            raise _AccountChanged()
        user_balance = await repo.credit_user(conn, account["user_id"], deposit.amount)
        if user_balance is None:
            raise _UserMissing(account["id"])
        await repo.notify_balance(
            conn,
            {
                "user_id": account["user_id"],
                "balance": user_balance,
                "bank_account_id": account["id"],
                "account_balance": account_balance,
                "amount": deposit.amount,
                "transaction_reference": deposit.transaction_reference,
            },
        )
    log.info(
        "deposit_credited",
        reference=deposit.transaction_reference,
        account_id=account["id"],
        amount=deposit.amount,
    )
    return "credited"


async def _hold(conn: Conn, deposit: DepositWebhook, hold: _Hold) -> DepositOutcome:
    async with conn.transaction():
        held = await repo.hold_for_review(
            conn,
            f"umd_{uuid.uuid4().hex}",
            deposit,
            reason=hold.reason,
            account_id=hold.account_id,
            payload=deposit.model_dump(),
        )
    if not held:
        return "duplicate"
    log.warning(
        "deposit_held_for_review",
        reference=deposit.transaction_reference,
        reason=hold.reason,
        account_id=hold.account_id,
    )
    return "held_for_review"
