"""Treasury rules: one Wema account per user, and each deposit credited exactly once.

Plain functions taking their ports; they return domain values and raise domain errors.
Provider calls happen with no transaction open and no connection held.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
class _Settled:
    """How a delivery ended, and what to log about it once its transaction has committed."""

    outcome: DepositOutcome
    event: str
    warn: bool = False
    facts: dict[str, Any] = field(default_factory=dict)


class _UserMissing(Exception):
    """The account's user row is gone: undo the credit, hold the deposit."""


async def receive_deposit(ports: TreasuryPorts, deposit: Deposit) -> DepositOutcome:
    """ONE transaction per delivery, serialised on its reference: whatever it decides (credit,
    hold, duplicate, review) commits with the rows that explain it, or not at all."""
    async with ports.pool.acquire() as conn, conn.transaction():
        # Lock order, the same for every delivery so that concurrent ones queue instead of
        # deadlocking: the reference, then the account row, then the user row.
        await repo.lock_reference(conn, deposit.transaction_reference)
        settled = await _settle(conn, deposit)
    facts = {"reference": deposit.transaction_reference, **settled.facts}
    if settled.warn:
        log.warning(settled.event, **facts)
    else:
        log.info(settled.event, **facts)
    return settled.outcome


async def _settle(conn: Conn, deposit: Deposit) -> _Settled:
    earlier = await repo.outcome_for_reference(conn, deposit.transaction_reference)
    if earlier is not None:
        return await _repeated(conn, deposit, earlier)
    account = await repo.lock_account_by_number(conn, deposit.account_number)
    if account is None:
        return await _hold(conn, deposit, "unknown_account", None)
    if account["status"] != "active":
        return await _hold(conn, deposit, f"account_{account['status']}", account["id"])
    try:
        async with conn.transaction():  # a savepoint: a credit that cannot finish leaves nothing
            return await _credit(conn, account, deposit)
    except _UserMissing:
        return await _hold(conn, deposit, "user_missing", account["id"])


async def _credit(conn: Conn, account: asyncpg.Record, deposit: Deposit) -> _Settled:
    """The row, both balances and the notification, together."""
    transaction_id = f"btx_{uuid.uuid4().hex}"
    if not await repo.insert_credit(conn, transaction_id, account, deposit):
        # The UNIQUE constraint's backstop; the lock and the look-up above come first.
        return _Settled("duplicate", "deposit_duplicate")
    account_balance = await repo.credit_account(conn, account["id"], deposit.amount)
    user_balance = await repo.credit_user(conn, account["user_id"], deposit.amount)
    if user_balance is None:
        raise _UserMissing()
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
    return _Settled(
        "credited",
        "deposit_credited",
        facts={"account_id": account["id"], "amount": deposit.amount},
    )


async def _repeated(conn: Conn, deposit: Deposit, earlier: asyncpg.Record) -> _Settled:
    """A reference seen before. The same amount into the same account is a redelivery; anything
    else is not ours to guess (a correction? a bank error? a forgery with a leaked key?): a
    review item for a person, and no money moves."""
    if earlier["amount"] == deposit.amount and earlier["account_number"] == deposit.account_number:
        return _Settled("duplicate", "deposit_duplicate")
    repeat = deposit.model_dump()
    first = await repo.record_review(
        conn,
        f"rvw_{uuid.uuid4().hex}",
        reason="deposit_reference_reused",
        reference=deposit.transaction_reference,
        fingerprint=fingerprint(repeat),
        detail={
            "why": "a deposit repeats this reference with another amount or account",
            "earlier": {
                "outcome": earlier["outcome"],
                "id": earlier["id"],
                "amount": earlier["amount"],
                "account_number": earlier["account_number"],
            },
            "repeat": repeat,
        },
    )
    facts = {"earlier_outcome": earlier["outcome"], "earlier_id": earlier["id"]}
    return _Settled(
        "held_for_review" if first else "duplicate",
        "deposit_reference_reused",
        warn=True,
        facts={**facts, "first_delivery": first},
    )


async def _hold(conn: Conn, deposit: Deposit, reason: str, account_id: str | None) -> _Settled:
    held = await repo.hold_for_review(
        conn,
        f"umd_{uuid.uuid4().hex}",
        deposit,
        reason=reason,
        account_id=account_id,
        payload=deposit.model_dump(),
    )
    if not held:  # the UNIQUE constraint's backstop, as for a credit
        return _Settled("duplicate", "deposit_duplicate")
    return _Settled(
        "held_for_review",
        "deposit_held_for_review",
        warn=True,
        facts={"reason": reason, "account_id": account_id},
    )
