"""Treasury rules: one Wema account per user, and each deposit credited exactly once.

Plain functions taking their ports; they return domain values and raise domain errors.
Provider calls happen with no transaction open and no connection held.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from betfuz_common.db import Conn
from betfuz_common.errors import WalletNotFound
from betfuz_common.idempotency import IdempotentRequest, fingerprint, run_once
from betfuz_common.logging import get_logger
from betfuz_common.ops.service import open_case
from betfuz_common.pagination import Slice, slice_of
from betfuz_common.webhooks import SignedPayloadRefused
from betfuz_common.webhooks import keep_refused as keep_refused_notification
from treasury import repository as repo
from treasury.domain import (
    Account,
    AccountDetails,
    BankTransaction,
    CreditedBy,
    Deposit,
    DepositOutcome,
    Opened,
)
from treasury.errors import AccountExists, AccountNotFound, BvnUnavailable, CreationInProgress
from treasury.nuban import WEMA_BANK_CODE, is_valid_nuban
from treasury.operations import (
    AMOUNT_MISMATCH,
    DEPOSIT_HELD,
    DEPOSIT_REFUSED,
    HELD_REASONS,
    OPERATIONS,
    REFERENCE_REUSED,
)
from treasury.ports import TreasuryPorts
from treasury.provider import (
    AccountRequest,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    WemaAccount,
)
from treasury.schemas import salvage_refused_deposit

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


# A claim holds its BVN against every other user for this long and this many Wema calls at
# most: room for a customer to retry through a short Wema outage, and never long enough for a
# claim a provider failure left behind (or one made with a stranger's BVN) to park that BVN for
# good. Migration 0003's column default repeats the lifetime for the previous release's rows.
CLAIM_LIFETIME = timedelta(minutes=15)
CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class _Claim:
    """The 'creating' row a request owns, and the reference it sends Wema. The reference is the
    claim's identity: a claim restarted under a new reference is another claim."""

    id: str
    reference: str


async def _create(ports: TreasuryPorts, user_id: str, details: AccountDetails) -> Account:
    async with ports.pool.acquire() as conn:
        if not await repo.user_exists(conn, user_id):
            raise WalletNotFound(user_id)
        claim = await _claim(conn, ports, user_id, details)
    request = AccountRequest(
        reference=claim.reference,
        bvn=details.bvn,
        first_name=details.first_name,
        last_name=details.last_name,
        phone_number=details.phone_number,
        email=details.email,
    )
    try:
        opened = _checked(await ports.wema.create_virtual_account(request))
    except ProviderRejected:
        async with ports.pool.acquire() as conn, conn.transaction():
            attempts = await repo.delete_claim(conn, claim.id, claim.reference)
            if attempts is not None and attempts > 1:
                # An earlier call with this reference went unanswered: it may have opened an
                # account that this refusal does not undo.
                orphan = {"id": claim.id, "user_id": user_id, "reference": claim.reference}
                await _orphaned(conn, {**orphan, "attempts": attempts}, "refused_after_no_answer")
        raise
    except ProviderError as exc:
        log.warning("wema_create_failed", account_id=claim.id, error=str(exc))
        async with ports.pool.acquire() as conn:
            await repo.release_claim(conn, claim.id, claim.reference)
        raise
    return await _activate(ports, claim, opened)


async def _claim(conn: Conn, ports: TreasuryPorts, user_id: str, details: AccountDetails) -> _Claim:
    bvn_hash = ports.cipher.fingerprint(details.bvn)
    # A few passes: a claim Wema refused can be deleted between our insert and our read, a
    # dead claim holding the BVN is retired before the next pass, and a sibling request of the
    # same user can win the race in ways PostgreSQL reports as errors (below).
    for _ in range(3):
        try:
            async with conn.transaction():
                claim = await _take_claim(conn, ports, user_id, details, bvn_hash)
        except asyncpg.DeadlockDetectedError:
            # Our insert crossed a sibling request's activation of the same user's row (each
            # waits on the other's entry in a unique index) and PostgreSQL undid ours. Decide
            # again.
            continue
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != BVN_HASH_CONSTRAINT:
                raise
            holder = await repo.bvn_holder(conn, bvn_hash)
            if holder is None or holder == user_id:
                # Gone since, or the caller's own: a sibling request claimed it first, and two
                # inserts racing on both unique indexes can meet on the BVN's before the user's.
                continue
            if not await _retire_dead_claim(conn, bvn_hash):
                # Never told apart from a bank's refusal: the answer must not say whether a
                # BVN belongs to a customer. Logged without the BVN.
                log.info("account_refused_bvn_in_use", user_id=user_id)
                raise BvnUnavailable() from None
            continue
        if claim is not None:
            return claim
    raise CreationInProgress()


async def _take_claim(
    conn: Conn, ports: TreasuryPorts, user_id: str, details: AccountDetails, bvn_hash: bytes
) -> _Claim | None:
    """In the caller's transaction: a new claim, or the user's idle one taken over. None when
    the user's row vanished between the two statements (try again)."""
    name = f"{details.first_name} {details.last_name}".upper()
    encrypted = ports.cipher.encrypt(details.bvn, user_id)
    row = await repo.insert_claim(
        conn,
        account_id=f"bac_{uuid.uuid4().hex}",
        user_id=user_id,
        account_name=name,
        reference=_new_reference(),
        bvn_encrypted=encrypted,
        bvn_hash=bvn_hash,
        lease=ports.lease,
        lifetime=CLAIM_LIFETIME,
    )
    if row is not None:
        return _Claim(row["id"], row["reference"])
    held = await repo.claim_for_user(conn, user_id, CLAIM_ATTEMPTS)
    if held is None:
        return None
    if held["status"] != "creating":
        raise AccountExists(account_of(ports, held))
    if held["leased"]:
        raise CreationInProgress()
    if held["live"] and bytes(held["bvn_hash"]) == bvn_hash:
        # The same BVN: the same reference, which Wema dedupes on, so a retry after a lost
        # answer can never open a second account.
        row = await repo.resume_claim(
            conn, held["id"], account_name=name, bvn_encrypted=encrypted, lease=ports.lease
        )
        return _Claim(row["id"], row["reference"])
    # Another BVN, or a claim past its limits. The old reference is never sent again: Wema
    # would answer it with the account it may have opened for the old BVN, which would then be
    # linked to this one. A new reference, and the old one recorded for a person to check.
    row = await repo.restart_claim(
        conn,
        held["id"],
        reference=_new_reference(),
        account_name=name,
        bvn_encrypted=encrypted,
        bvn_hash=bvn_hash,
        lease=ports.lease,
        lifetime=CLAIM_LIFETIME,
    )
    await _orphaned(conn, held, "claim_expired" if not held["live"] else "bvn_changed")
    return _Claim(row["id"], row["reference"])


async def _retire_dead_claim(conn: Conn, bvn_hash: bytes) -> bool:
    """The BVN is on another user's row: free it if that row is a claim past its limits."""
    async with conn.transaction():
        dead = await repo.retire_dead_claim(conn, bvn_hash, CLAIM_ATTEMPTS)
        if dead is None:
            return False
        await _orphaned(conn, dead, "claim_expired")
    log.info("account_claim_retired", account_id=dead["id"])
    return True


async def _orphaned(conn: Conn, claim: asyncpg.Record | dict[str, Any], why: str) -> None:
    """A reference we sent Wema that no account of ours will carry: Wema may hold an account
    opened under it, which a person must find and close. Never the BVN."""
    reference = claim["reference"]
    await repo.record_review(
        conn,
        f"rvw_{uuid.uuid4().hex}",
        reason="orphaned_wema_reference",
        reference=reference,
        fingerprint=fingerprint({"reference": reference}),
        detail={
            "why": why,
            "account_id": claim["id"],
            "user_id": claim["user_id"],
            "attempts": claim["attempts"],
        },
    )
    log.warning("wema_reference_orphaned", reference=reference, account_id=claim["id"], why=why)


def _new_reference() -> str:
    return f"BFZ-{uuid.uuid4().hex.upper()}"


def _checked(opened: WemaAccount) -> WemaAccount:
    """Never store an account number that cannot receive a transfer."""
    if opened.bank_code.lstrip("0").zfill(3) != WEMA_BANK_CODE:
        raise ProviderUnavailable("Wema answered for another bank code")
    if not is_valid_nuban(opened.account_number, WEMA_BANK_CODE):
        raise ProviderUnavailable("Wema returned an account number that is not a valid NUBAN")
    return opened


async def _activate(ports: TreasuryPorts, claim: _Claim, opened: WemaAccount) -> Account:
    async with ports.pool.acquire() as conn:
        try:
            row = await repo.activate_account(
                conn, claim.id, claim.reference, opened.account_number, opened.account_name.upper()
            )
        except asyncpg.UniqueViolationError:
            await repo.release_claim(conn, claim.id, claim.reference)
            raise ProviderUnavailable("Wema returned an account number already in use") from None
        if row is None:  # activated by a request that took the claim over after a lost lease
            row = await repo.account_by_id(conn, claim.id)
            if row is None or row["status"] == "creating" or row["reference"] != claim.reference:
                raise ProviderUnavailable("the account claim was retired while Wema answered")
    log.info("account_created", account_id=claim.id)
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
    salvaged = salvage_refused_deposit(refused.payload)
    digest = hashlib.sha256(refused.payload).hexdigest()
    async with ports.pool.acquire() as conn, conn.transaction():
        first = await keep_refused_notification(conn, "treasury", "wema", refused)
        # A case for a person, with what could be read of the notice (perhaps nothing): the
        # same bytes again are the same case.
        await open_case(
            conn,
            OPERATIONS,
            kind=DEPOSIT_REFUSED,
            subject=digest,
            reason=refused.reason[:1000],
            refs={"payloadSha256": digest, **salvaged.refs},
            amounts=salvaged.amounts,
        )
    log.warning("deposit_refused_but_kept", reason=refused.reason, first_delivery=first)


MISMATCH = "Wema lists this deposit with another amount or account than our books hold"


@dataclass(frozen=True)
class _Settled:
    """How a delivery ended, and what to log about it once its transaction has committed.
    `mismatch`: reconciliation found the reference in our books with another amount or account
    (no money moved); `new_case`: and this was the first time, so its case was opened now."""

    outcome: DepositOutcome
    event: str
    warn: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    mismatch: bool = False
    new_case: bool = False


# The public name: reconciliation reads what each listed deposit came to.
Settled = _Settled

# A delivery that changes nothing: a redelivery, a listed deposit booked alike (counted by
# reconciliation without a transaction, see `booked_alike`), or one a UNIQUE backstop refused.
DUPLICATE = _Settled("duplicate", "deposit_duplicate")


class _AlreadyCredited(Exception):
    """The UNIQUE backstop refused the row after the user's balance moved: the whole
    transaction rolls back, and the delivery is a duplicate."""


async def receive_deposit(ports: TreasuryPorts, deposit: Deposit) -> DepositOutcome:
    """Wema's notification of a deposit."""
    return (await settle_deposit(ports, deposit, "webhook")).outcome


async def settle_deposit(
    ports: TreasuryPorts, deposit: Deposit, credited_by: CreditedBy
) -> Settled:
    """The one exactly-once path of a deposit, whether its notification or reconciliation
    brings it. ONE transaction per delivery, serialised on its reference: whatever it decides
    (credit, hold, duplicate, review) commits with the rows that explain it, or not at all."""
    try:
        async with (
            ports.pool.acquire() as conn,
            # Lock order, the same for every delivery so that concurrent ones queue instead of
            # deadlocking: the reference (taken with BEGIN, one round trip), then the account
            # row, then the user row.
            repo.transaction_locked_on_reference(conn, deposit.transaction_reference),
        ):
            settled = await _settle(conn, deposit, credited_by)
    except _AlreadyCredited:
        settled = DUPLICATE  # rolled back: nothing moved
    facts = {"reference": deposit.transaction_reference, "via": credited_by, **settled.facts}
    if settled.warn:
        log.warning(settled.event, **facts)
    else:
        log.info(settled.event, **facts)
    return settled


async def _settle(conn: Conn, deposit: Deposit, credited_by: CreditedBy) -> _Settled:
    earlier, account = await repo.look_up_deposit(
        conn, deposit.transaction_reference, deposit.account_number
    )
    if earlier is not None:
        if credited_by == "reconciliation":
            return await _listed_again(conn, deposit, earlier)
        return await _repeated(conn, deposit, earlier)
    if account is None:
        return await _hold(conn, deposit, "unknown_account", None)
    if account.status != "active":
        return await _hold(conn, deposit, f"account_{account.status}", account.id, account.user_id)
    return await _credit(conn, account, deposit, credited_by)


async def _credit(
    conn: Conn, account: repo.AccountRef, deposit: Deposit, credited_by: CreditedBy
) -> _Settled:
    """The row, both balances and the notification, in one statement (repository's
    DEPOSIT_CREDIT): four round trips a deposit with BEGIN-and-the-reference's-lock, the
    look-up and COMMIT. The user's row is credited first: when it is gone nothing is written and the
    deposit is held, with no savepoint to undo. Its lock still comes after the account's, taken
    by the look-up."""
    transaction_id = f"btx_{uuid.uuid4().hex}"
    credit = await repo.credit_deposit(conn, transaction_id, account, deposit, credited_by)
    if credit.user_balance is None:
        return await _hold(conn, deposit, "user_missing", account.id, account.user_id)
    if not credit.booked:
        # The UNIQUE constraint's backstop; the lock and the look-up above come first.
        raise _AlreadyCredited
    return _Settled(
        "credited",
        "deposit_credited",
        facts={"account_id": account.id, "amount": deposit.amount},
    )


async def _repeated(conn: Conn, deposit: Deposit, earlier: repo.Earlier) -> _Settled:
    """A reference seen before. The same amount into the same account is a redelivery; anything
    else is not ours to guess (a correction? a bank error? a forgery with a leaked key?): a
    review item for a person, and no money moves."""
    if _same_facts(earlier, deposit):
        return DUPLICATE
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
                "outcome": earlier.outcome,
                "id": earlier.id,
                "amount": earlier.amount,
                "account_number": earlier.account_number,
            },
            "repeat": repeat,
        },
    )
    if first:
        await open_case(
            conn,
            OPERATIONS,
            kind=REFERENCE_REUSED,
            # One case per variant, as one review item per variant.
            subject=f"{deposit.transaction_reference}/{fingerprint(repeat)}",
            reason="a deposit repeats this reference with another amount or account",
            refs={
                "reference": deposit.transaction_reference,
                "accountNumber": deposit.account_number,
                "earlierAccountNumber": earlier.account_number,
                "earlierOutcome": earlier.outcome,
            },
            amounts={"amount": deposit.amount}
            | ({} if earlier.amount is None else {"earlierAmount": earlier.amount}),
        )
    facts = {"earlier_outcome": earlier.outcome, "earlier_id": earlier.id}
    return _Settled(
        "held_for_review" if first else "duplicate",
        "deposit_reference_reused",
        warn=True,
        facts={**facts, "first_delivery": first},
    )


def _same_facts(earlier: repo.Earlier, deposit: Deposit) -> bool:
    """What our books hold for a reference is what this delivery says: the same amount into
    the same account. The one definition of a repeat that changes nothing."""
    return earlier.amount == deposit.amount and earlier.account_number == deposit.account_number


async def booked_alike(conn: Conn, deposits: Sequence[Deposit]) -> list[bool]:
    """For each listed deposit, whether our books already hold its reference with its amount
    and account number: one statement for them all, outside any reference lock. A True one is
    a duplicate with nothing to write, whose `settle_deposit` would only have confirmed it; a
    False one (not booked, or booked with other facts) must go through `settle_deposit`.

    Why the lock is not needed for a True: the lock serialises deliveries that decide on what
    is NOT there yet (credit, hold); a duplicate writes nothing and rests only on rows that,
    once committed, never change or go (read in repository.py and operations.py): a
    bank_transactions row is only ever inserted (credit_deposit), and the account it joins keeps
    its number (activate_account sets it once, on a 'creating' row that no deposit can name,
    and the foreign key keeps an account with deposits from being deleted); an
    unmatched_deposits row is inserted (hold_for_review) and only ever gets its resolved_at set
    (resolve_held), never its amount or account; a deposit_resolutions row is only inserted
    (record_resolution). So a row seen here is what `look_up_deposit` would read under
    the lock at any later moment, and this read decides exactly what a `settle_deposit` run at
    its snapshot would have decided. Rows may be added afterwards (an ops resolution next to a
    held row), hence the rule that EVERY row found for the reference must agree: then whichever
    one `look_up_deposit` picks first agrees too. A row committing after the snapshot is
    unseen, so its deposit is False here and takes the locked path, as before."""
    references = list(dict.fromkeys(deposit.transaction_reference for deposit in deposits))
    booked: dict[str, list[repo.Earlier]] = {}
    for reference, earlier in await repo.outcomes_for_references(conn, references):
        booked.setdefault(reference, []).append(earlier)
    alike = []
    for deposit in deposits:
        found = booked.get(deposit.transaction_reference, [])
        alike.append(bool(found) and all(_same_facts(earlier, deposit) for earlier in found))
    return alike


async def _listed_again(conn: Conn, deposit: Deposit, earlier: repo.Earlier) -> _Settled:
    """A reference reconciliation finds in our books already. The same amount into the same
    account is what we credited (or held): nothing to do. Anything else means Wema's listing and
    our books disagree on that deposit: an `amount_mismatch` case for a person, and no money
    moves (a repeat in the next tick's overlap counts on the same case)."""
    if _same_facts(earlier, deposit):
        return DUPLICATE
    reference = deposit.transaction_reference
    refs = {
        "transaction_reference": reference,
        "earlier_id": earlier.id,
        "listed_account_number": deposit.account_number,
        "booked_account_number": earlier.account_number,
    }
    amounts = {"listed": deposit.amount, "booked": earlier.amount}
    detail = {"booked_outcome": earlier.outcome, "listed": deposit.model_dump(mode="json")}
    case = await open_case(conn, OPERATIONS, kind=AMOUNT_MISMATCH, subject=reference, reason=MISMATCH, refs=refs, amounts=amounts, detail=detail)  # fmt: skip  # noqa: E501
    return _Settled(
        "held_for_review",
        "reconcile_amount_mismatch",
        warn=True,
        facts={"case_id": case.id, "earlier_outcome": earlier.outcome},
        mismatch=True,
        new_case=case.occurrences == 1,
    )


async def _hold(
    conn: Conn,
    deposit: Deposit,
    reason: str,
    account_id: str | None,
    user_id: str | None = None,
) -> _Settled:
    """Nobody credited: the held row and its case, together."""
    held = await repo.hold_for_review(
        conn,
        f"umd_{uuid.uuid4().hex}",
        deposit,
        reason=reason,
        account_id=account_id,
        payload=deposit.model_dump(),
    )
    if not held:  # the UNIQUE constraint's backstop, as for a credit
        return DUPLICATE
    await open_case(
        conn,
        OPERATIONS,
        kind=DEPOSIT_HELD,
        subject=deposit.transaction_reference,
        reason=HELD_REASONS[reason],
        refs={
            "reference": deposit.transaction_reference,
            "accountNumber": deposit.account_number,
            **({} if user_id is None else {"userId": user_id}),
        },
        amounts={"amount": deposit.amount},
        detail={"bankAccountId": account_id, "transactionDate": deposit.transaction_date},
    )
    return _Settled(
        "held_for_review",
        "deposit_held_for_review",
        warn=True,
        facts={"reason": reason, "account_id": account_id},
    )
