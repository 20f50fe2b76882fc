"""Treasury rules: one Wema account per user, and each deposit credited exactly once.

Plain functions taking their ports; they return domain values and raise domain errors.
Provider calls happen with no transaction open and no connection held.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from betfuz_common.db import Conn
from betfuz_common.errors import WalletNotFound
from betfuz_common.idempotency import IdempotentRequest, fingerprint, run_once
from betfuz_common.logging import get_logger
from betfuz_common.pagination import Slice, slice_of
from betfuz_common.webhooks import SignedPayloadRefused
from betfuz_common.webhooks import keep_refused as keep_refused_notification
from treasury import repository as repo
from treasury.domain import (
    Account,
    AccountDetails,
    BankTransaction,
    Deposit,
    DepositOutcome,
    Opened,
)
from treasury.errors import AccountExists, AccountNotFound, BvnAlreadyLinked, CreationInProgress
from treasury.nuban import WEMA_BANK_CODE, is_valid_nuban
from treasury.ports import TreasuryPorts
from treasury.provider import (
    AccountRequest,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    WemaAccount,
)

log = get_logger("treasury")

BVN_HASH_CONSTRAINT = "bank_accounts_bvn_hash_key"
PageKey = tuple[datetime, str]  # (transaction_date, id) of the last deposit a page showed


def account_of(ports: TreasuryPorts, row: Any) -> Account:
    """The account as its owner may see it: the BVN decrypted only to be masked."""
    masked = ports.cipher.masked(row["bvn_encrypted"], row["user_id"])
    return Account.model_validate({**dict(row), "bvn_masked": masked})


# --- accounts ---------------------------------------------------------------------------


async def open_account(
    ports: TreasuryPorts, user_id: str, details: AccountDetails, client_key: str | None
) -> Opened:
    """One account per user; with an Idempotency-Key, a repeat replays the first answer."""
    request = None
    if client_key is not None:
        # The BVN enters the fingerprint only as its keyed hash: a plain hash could be reversed.
        asked = {
            **details.model_dump(exclude={"bvn"}),
            "bvn": ports.cipher.fingerprint(details.bvn).hex(),
        }
        request = IdempotentRequest(f"accounts:{user_id}", client_key, fingerprint(asked))

    async def replayed(result: dict[str, Any] | None) -> Account:
        if result is not None:
            return Account.model_validate(result)
        return await get_account(ports, user_id)  # finished by the previous release

    account, replay = await run_once(
        ports.idempotency,
        ports.pool,
        request,
        lambda: _create(ports, user_id, details),
        save=lambda account: account.model_dump(mode="json"),
        load=replayed,
    )
    return Opened(account=account, replayed=replay)


async def _create(ports: TreasuryPorts, user_id: str, details: AccountDetails) -> Account:
    async with ports.pool.acquire() as conn:
        if not await repo.user_exists(conn, user_id):
            raise WalletNotFound(user_id)
        claim = await _claim(conn, ports, user_id, details)
    request = AccountRequest(
        reference=claim["reference"],
        bvn=details.bvn,
        first_name=details.first_name,
        last_name=details.last_name,
        phone_number=details.phone_number,
        email=details.email,
    )
    try:
        opened = _checked(await ports.wema.create_virtual_account(request))
    except ProviderRejected:
        async with ports.pool.acquire() as conn:
            await repo.delete_claim(conn, claim["id"])
        raise
    except ProviderError as exc:
        log.warning("wema_create_failed", account_id=claim["id"], error=str(exc))
        async with ports.pool.acquire() as conn:
            await repo.release_claim(conn, claim["id"])
        raise
    return await _activate(ports, claim["id"], opened)


async def _claim(
    conn: Conn, ports: TreasuryPorts, user_id: str, details: AccountDetails
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
                bvn_encrypted=ports.cipher.encrypt(details.bvn, user_id),
                bvn_hash=ports.cipher.fingerprint(details.bvn),
                lease=ports.lease,
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
        raise AccountExists(account_of(ports, existing))
    raise CreationInProgress()


def _checked(opened: WemaAccount) -> WemaAccount:
    """Never store an account number that cannot receive a transfer."""
    if opened.bank_code.lstrip("0").zfill(3) != WEMA_BANK_CODE:
        raise ProviderUnavailable("Wema answered for another bank code")
    if not is_valid_nuban(opened.account_number, WEMA_BANK_CODE):
        raise ProviderUnavailable("Wema returned an account number that is not a valid NUBAN")
    return opened


async def _activate(ports: TreasuryPorts, account_id: str, opened: WemaAccount) -> Account:
    async with ports.pool.acquire() as conn:
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
    return account_of(ports, row)


async def get_account(ports: TreasuryPorts, user_id: str) -> Account:
    async with ports.pool.acquire() as conn:
        row = await repo.account_for_user(conn, user_id)
    if row is None or row["status"] == "creating":
        raise AccountNotFound(user_id)
    return account_of(ports, row)


async def list_transactions(
    ports: TreasuryPorts, user_id: str, limit: int, after: PageKey | None
) -> Slice[BankTransaction, PageKey]:
    async with ports.pool.acquire() as conn:
        account = await repo.account_for_user(conn, user_id)
        if account is None or account["status"] == "creating":
            raise AccountNotFound(user_id)
        rows = await repo.transactions_page(conn, user_id, limit + 1, after)
    return slice_of(rows, limit, lambda row: (row.transaction_date, row.id))


# --- deposits ---------------------------------------------------------------------------


async def keep_refused(ports: TreasuryPorts, refused: SignedPayloadRefused) -> None:
    """A deposit notice Wema signed but our parser refused: kept raw, held for a person. If Wema
    treats our 4xx as final, the customer's money is still in our books to be found."""
    async with ports.pool.acquire() as conn:
        first = await keep_refused_notification(conn, "treasury", "wema", refused)
    log.warning("deposit_refused_but_kept", reason=refused.reason, first_delivery=first)


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


async def receive_deposit(ports: TreasuryPorts, deposit: Deposit) -> DepositOutcome:
    async with ports.pool.acquire() as conn:
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


async def _credit_once(conn: Conn, deposit: Deposit) -> Literal["credited", "duplicate"] | _Hold:
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


async def _hold(conn: Conn, deposit: Deposit, hold: _Hold) -> DepositOutcome:
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
