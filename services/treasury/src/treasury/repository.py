"""SQL for the treasury schema and the wallet, and nothing else. Every function runs on the
caller's connection (and transaction)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from betfuz_common import jsonio
from betfuz_common.db import Conn, transaction_locked_on
from treasury.domain import BankTransaction, CreditedBy, Deposit

BALANCE_CHANNEL = "balance_changed"
# The first key of the two-key advisory locks on deposit references. PostgreSQL keeps two-key
# locks apart from one-key ones (the migration runner's), and no other code uses this value.
DEPOSIT_LOCK_SPACE = 0x7E3A_0001
_ACCOUNT_COLUMNS = (
    "id, user_id, account_number, account_name, bank_name, bank_code, balance, status, "
    "reference, bvn_encrypted, locked_until, created_at"
)
_TRANSACTION_COLUMNS = (
    "id, type, amount, status, transaction_reference, sender_name, sender_account, sender_bank, "
    "narration, transaction_date, created_at"
)


async def user_exists(conn: Conn, user_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM public.users WHERE id = $1", user_id))


async def insert_claim(
    conn: Conn,
    *,
    account_id: str,
    user_id: str,
    account_name: str,
    reference: str,
    bvn_encrypted: bytes,
    bvn_hash: bytes,
    lease: timedelta,
    lifetime: timedelta,
) -> asyncpg.Record | None:
    """A new 'creating' row, its first Wema call counted; None when the user has a row already.

    UNIQUE(user_id) makes concurrent claims queue behind the first; UNIQUE(bvn_hash) raises
    UniqueViolationError when the BVN is on another user's row.
    """
    return await conn.fetchrow(
        """
        INSERT INTO treasury.bank_accounts
            (id, user_id, account_name, status, reference, bvn_encrypted, bvn_hash, locked_until,
             attempts, claim_expires_at)
        VALUES ($1, $2, $3, 'creating', $4, $5, $6, now() + $7::interval, 1,
                now() + $8::interval)
        ON CONFLICT (user_id) DO NOTHING
        RETURNING id, reference
        """,
        account_id,
        user_id,
        account_name,
        reference,
        bvn_encrypted,
        bvn_hash,
        lease,
        lifetime,
    )


async def claim_for_user(conn: Conn, user_id: str, max_attempts: int) -> asyncpg.Record | None:
    """The user's row, locked until the caller's transaction ends, with what a takeover needs:
    `leased` (a request is talking to Wema for it) and `live` (it may still hold its BVN)."""
    return await conn.fetchrow(
        f"""
        SELECT {_ACCOUNT_COLUMNS}, bvn_hash, attempts,
               coalesce(locked_until > now(), false) AS leased,
               (claim_expires_at > now() AND attempts < $2) AS live
          FROM treasury.bank_accounts WHERE user_id = $1
           FOR UPDATE
        """,  # noqa: S608 - the column list is a constant
        user_id,
        max_attempts,
    )


async def resume_claim(
    conn: Conn, account_id: str, *, account_name: str, bvn_encrypted: bytes, lease: timedelta
) -> asyncpg.Record:
    """Take over an idle claim for the same BVN: the same reference, one more Wema call."""
    row = await conn.fetchrow(
        """
        UPDATE treasury.bank_accounts
           SET account_name = $2, bvn_encrypted = $3, locked_until = now() + $4::interval,
               attempts = attempts + 1, updated_at = now()
         WHERE id = $1 AND status = 'creating'
        RETURNING id, reference
        """,
        account_id,
        account_name,
        bvn_encrypted,
        lease,
    )
    assert row is not None, "resume_claim runs on a row its transaction locked"
    return row


async def restart_claim(
    conn: Conn,
    account_id: str,
    *,
    reference: str,
    account_name: str,
    bvn_encrypted: bytes,
    bvn_hash: bytes,
    lease: timedelta,
    lifetime: timedelta,
) -> asyncpg.Record:
    """Turn an idle claim into a new one: a new reference, BVN, lifetime and call count."""
    row = await conn.fetchrow(
        """
        UPDATE treasury.bank_accounts
           SET reference = $2, account_name = $3, bvn_encrypted = $4, bvn_hash = $5,
               locked_until = now() + $6::interval, attempts = 1,
               claim_expires_at = now() + $7::interval, updated_at = now()
         WHERE id = $1 AND status = 'creating'
        RETURNING id, reference
        """,
        account_id,
        reference,
        account_name,
        bvn_encrypted,
        bvn_hash,
        lease,
        lifetime,
    )
    assert row is not None, "restart_claim runs on a row its transaction locked"
    return row


async def retire_dead_claim(
    conn: Conn, bvn_hash: bytes, max_attempts: int
) -> asyncpg.Record | None:
    """Delete the claim holding this BVN if it may no longer hold it: past its lifetime or its
    calls, and no request talking to Wema for it. None when the BVN is held for good reason."""
    return await conn.fetchrow(
        """
        DELETE FROM treasury.bank_accounts
         WHERE bvn_hash = $1 AND status = 'creating' AND locked_until < now()
           AND (claim_expires_at <= now() OR attempts >= $2)
        RETURNING id, user_id, reference, attempts
        """,
        bvn_hash,
        max_attempts,
    )


async def bvn_holder(conn: Conn, bvn_hash: bytes) -> str | None:
    """Whose row carries this BVN, if anyone's."""
    holder: str | None = await conn.fetchval(
        "SELECT user_id FROM treasury.bank_accounts WHERE bvn_hash = $1", bvn_hash
    )
    return holder


async def account_by_id(conn: Conn, account_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM treasury.bank_accounts WHERE id = $1",  # noqa: S608
        account_id,
    )


async def account_for_user(conn: Conn, user_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM treasury.bank_accounts WHERE user_id = $1",  # noqa: S608
        user_id,
    )


async def activate_account(
    conn: Conn, account_id: str, reference: str, account_number: str, account_name: str
) -> asyncpg.Record | None:
    """Only the claim Wema answered for: a claim restarted since (another reference, perhaps
    another BVN) is never given the account opened under the old reference."""
    return await conn.fetchrow(
        f"""
        UPDATE treasury.bank_accounts
           SET status = 'active', account_number = $3, account_name = $4, locked_until = NULL,
               updated_at = now()
         WHERE id = $1 AND reference = $2 AND status = 'creating'
        RETURNING {_ACCOUNT_COLUMNS}
        """,  # noqa: S608 - the column list is a constant
        account_id,
        reference,
        account_number,
        account_name,
    )


async def release_claim(conn: Conn, account_id: str, reference: str) -> None:
    """Wema's answer was lost or unusable: let the next request retry with the same reference."""
    await conn.execute(
        "UPDATE treasury.bank_accounts SET locked_until = now() - interval '1 second', "
        "updated_at = now() WHERE id = $1 AND reference = $2 AND status = 'creating'",
        account_id,
        reference,
    )


async def delete_claim(conn: Conn, account_id: str, reference: str) -> int | None:
    """Wema refused the details outright: forget the claim. Returns how many calls were made
    with its reference (None when the claim was already gone or restarted)."""
    attempts: int | None = await conn.fetchval(
        "DELETE FROM treasury.bank_accounts WHERE id = $1 AND reference = $2 "
        "AND status = 'creating' RETURNING attempts",
        account_id,
        reference,
    )
    return attempts


async def record_review(
    conn: Conn,
    review_id: str,
    *,
    reason: str,
    reference: str,
    fingerprint: str,
    detail: dict[str, Any],
) -> bool:
    """A review item; True the first time, False when the same thing (reason, reference and
    fingerprint) was seen before: its count goes up instead."""
    first: bool = await conn.fetchval(
        """
        INSERT INTO treasury.review_items AS r (id, reason, reference, fingerprint, detail)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (reason, reference, fingerprint) DO UPDATE
           SET occurrences = r.occurrences + 1, last_seen_at = now()
        RETURNING (xmax = 0)
        """,
        review_id,
        reason,
        reference,
        fingerprint,
        detail,
    )
    return first


def transaction_locked_on_reference(
    conn: Conn, reference: str
) -> contextlib.AbstractAsyncContextManager[None]:
    """A transaction that begins holding the reference's lock (`lock_reference`'s very lock),
    BEGIN and the lock in one round trip: the webhook's path."""
    return transaction_locked_on(conn, DEPOSIT_LOCK_SPACE, reference)


async def lock_reference(conn: Conn, reference: str) -> None:
    """Serialise every delivery of one Wema reference: taken first in the transaction that
    decides its outcome, released at commit. Without it, two deliveries racing an account's
    status change could each write a different outcome (one credited, one held): constraints
    on two tables cannot see each other's uncommitted rows. A hash collision only makes two
    references queue behind each other."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", DEPOSIT_LOCK_SPACE, reference
    )


# What a reference already did: credited (a bank transaction), held, or resolved by a person,
# with the amount and account number it came with. $1 is the reference.
_OUTCOME = """
SELECT 'credited' AS outcome, t.id, t.amount, a.account_number
  FROM treasury.bank_transactions t
  JOIN treasury.bank_accounts a ON a.id = t.bank_account_id
 WHERE t.transaction_reference = $1
UNION ALL
SELECT 'held' AS outcome, u.id, u.amount, u.account_number
  FROM treasury.unmatched_deposits u
 WHERE u.transaction_reference = $1
UNION ALL
-- Resolved by a person (credited to a wallet, or returned) with no held row: a refused
-- notice. Its amount and account are what the case salvaged from the raw notice.
SELECT 'resolved_by_ops' AS outcome, r.id, r.amount, r.account_number
  FROM treasury.deposit_resolutions r
 WHERE r.transaction_reference = $1
 LIMIT 1
"""

# A delivery's one look-up, after the reference's lock: the reference's earlier outcome, or
# else the account the deposit names ($2), that row locked until the transaction ends so its
# status cannot change before the credit. One round trip for the two. A repeat locks no row:
# a row lock would give its transaction an id and its commit a WAL flush, for nothing.
DEPOSIT_LOOKUP = f"""
WITH earlier AS ({_OUTCOME}),
     account AS (SELECT id, user_id, status FROM treasury.bank_accounts
                  WHERE account_number = $2 AND NOT EXISTS (SELECT 1 FROM earlier)
                    FOR NO KEY UPDATE)
SELECT e.outcome, e.id AS earlier_id, e.amount AS earlier_amount,
       e.account_number AS earlier_account_number,
       a.id AS account_id, a.user_id AS account_user_id, a.status AS account_status
  FROM (VALUES (1)) AS one (x)
  LEFT JOIN earlier e ON true
  LEFT JOIN account a ON true
"""  # noqa: S608 - constants only

# The credit, in one statement: the user's balance, the bank transaction (the exactly-once gate:
# UNIQUE on the reference), the account's balance and the balance notification, each only when
# the one before it happened. No user row: nothing is written (user_balance NULL). The UNIQUE
# gate refusing: the user's balance has moved and `inserted` is NULL, so the caller must roll
# the transaction back. The notification is delivered at commit, never before.
DEPOSIT_CREDIT = f"""
WITH credited_user AS (
    UPDATE public.users SET balance = balance + $4, updated_at = now()
     WHERE id = $3
    RETURNING balance
), booked AS (
    INSERT INTO treasury.bank_transactions
        (id, bank_account_id, user_id, type, amount, transaction_reference, sender_name,
         sender_account, sender_bank, narration, transaction_date, credited_by)
    SELECT $1, $2, $3, 'credit', $4, $5, $6, $7, $8, $9, $10, $11 FROM credited_user
    ON CONFLICT (transaction_reference) DO NOTHING
    RETURNING true AS inserted
), credited_account AS (
    UPDATE treasury.bank_accounts SET balance = balance + $4, updated_at = now()
     WHERE id = $2 AND EXISTS (SELECT 1 FROM booked)
    RETURNING balance
)
SELECT u.balance AS user_balance, b.inserted, c.balance AS account_balance,
       -- CASE evaluates its branch only when taken: no notification for a credit not made.
       CASE WHEN c.balance IS NOT NULL THEN pg_notify('{BALANCE_CHANNEL}', json_build_object(
           'user_id', $3::text, 'balance', u.balance, 'bank_account_id', $2::text,
           'account_balance', c.balance, 'amount', $4::numeric,
           'transaction_reference', $5::text)::text) END AS notified
  FROM (VALUES (1)) AS one (x)
  LEFT JOIN credited_user u ON true
  LEFT JOIN booked b ON true
  LEFT JOIN credited_account c ON true
"""  # noqa: S608 - constants only


@dataclass(frozen=True)
class Earlier:
    outcome: str
    id: str
    amount: Decimal
    account_number: str


@dataclass(frozen=True)
class AccountRef:
    id: str
    user_id: str
    status: str


def _one_row(row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:  # both statements select from a one-row VALUES: never
        raise RuntimeError("a one-row statement answered no row")
    return row


async def look_up_deposit(
    conn: Conn, reference: str, account_number: str
) -> tuple[Earlier | None, AccountRef | None]:
    """`DEPOSIT_LOOKUP`: (the reference's earlier outcome, the named account, locked)."""
    row = _one_row(await conn.fetchrow(DEPOSIT_LOOKUP, reference, account_number))
    earlier = None
    if row["outcome"] is not None:
        earlier = Earlier(
            row["outcome"], row["earlier_id"], row["earlier_amount"], row["earlier_account_number"]
        )
    account = None
    if row["account_id"] is not None:
        account = AccountRef(row["account_id"], row["account_user_id"], row["account_status"])
    return earlier, account


async def outcomes_for_references(conn: Conn, references: list[str]) -> list[tuple[str, Earlier]]:
    """Every row `_OUTCOME` could answer for any of these references (the same three sources,
    each read through its UNIQUE index on the reference), in one statement: zero, one or
    several (reference, outcome) pairs per reference."""
    rows = await conn.fetch(
        """
        SELECT t.transaction_reference, 'credited' AS outcome, t.id, t.amount, a.account_number
          FROM treasury.bank_transactions t
          JOIN treasury.bank_accounts a ON a.id = t.bank_account_id
         WHERE t.transaction_reference = ANY($1::text[])
        UNION ALL
        SELECT u.transaction_reference, 'held' AS outcome, u.id, u.amount, u.account_number
          FROM treasury.unmatched_deposits u
         WHERE u.transaction_reference = ANY($1::text[])
        UNION ALL
        SELECT r.transaction_reference, 'resolved_by_ops' AS outcome, r.id, r.amount,
               r.account_number
          FROM treasury.deposit_resolutions r
         WHERE r.transaction_reference = ANY($1::text[])
        """,
        references,
    )
    return [
        (
            row["transaction_reference"],
            Earlier(row["outcome"], row["id"], row["amount"], row["account_number"]),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Credit:
    user_balance: Decimal | None  # None: the user's row is gone, nothing was written
    booked: bool  # False with a user balance: the UNIQUE gate refused, roll back
    account_balance: Decimal | None


async def credit_deposit(
    conn: Conn,
    transaction_id: str,
    account: AccountRef,
    deposit: Deposit,
    credited_by: CreditedBy,
) -> Credit:
    """`DEPOSIT_CREDIT`."""
    answer = await conn.fetchrow(
        DEPOSIT_CREDIT,
        transaction_id,
        account.id,
        account.user_id,
        deposit.amount,
        deposit.transaction_reference,
        deposit.sender_name,
        deposit.sender_account,
        deposit.sender_bank,
        deposit.narration,
        deposit.transaction_date,
        credited_by,
    )
    row = _one_row(answer)
    return Credit(row["user_balance"], bool(row["inserted"]), row["account_balance"])


async def credit_user(conn: Conn, user_id: str, amount: Decimal) -> Decimal | None:
    balance: Decimal | None = await conn.fetchval(
        "UPDATE public.users SET balance = balance + $2, updated_at = now() "
        "WHERE id = $1 RETURNING balance",
        user_id,
        amount,
    )
    return balance


async def notify_balance(conn: Conn, payload: dict[str, Any]) -> None:
    """Delivered to LISTENers when the surrounding transaction commits, never before."""
    await conn.execute("SELECT pg_notify($1, $2)", BALANCE_CHANNEL, jsonio.dumps(payload).decode())


async def hold_for_review(
    conn: Conn,
    review_id: str,
    deposit: Deposit,
    *,
    reason: str,
    account_id: str | None,
    payload: dict[str, Any],
) -> bool:
    """False when this reference is already held."""
    inserted = await conn.fetchval(
        """
        INSERT INTO treasury.unmatched_deposits
            (id, account_number, bank_account_id, reason, amount, transaction_reference,
             payload, transaction_date)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (transaction_reference) DO NOTHING
        RETURNING true
        """,
        review_id,
        deposit.account_number,
        account_id,
        reason,
        deposit.amount,
        deposit.transaction_reference,
        payload,
        deposit.transaction_date,
    )
    return bool(inserted)


async def transactions_page(
    conn: Conn, user_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[BankTransaction]:
    """Newest first; `after` is the (transaction_date, id) of the last row already shown."""
    if after is None:
        rows = await conn.fetch(
            f"SELECT {_TRANSACTION_COLUMNS} FROM treasury.bank_transactions "  # noqa: S608
            "WHERE user_id = $1 ORDER BY transaction_date DESC, id DESC LIMIT $2",
            user_id,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_TRANSACTION_COLUMNS} FROM treasury.bank_transactions "  # noqa: S608
            "WHERE user_id = $1 AND (transaction_date, id) < ($2, $3) "
            "ORDER BY transaction_date DESC, id DESC LIMIT $4",
            user_id,
            after[0],
            after[1],
            limit,
        )
    return [BankTransaction.from_row(row) for row in rows]


# --- reconciliation ---------------------------------------------------------------------


async def try_reconcile_lock(conn: Conn, key: int) -> bool:
    """The tick's lock, held until the caller's transaction ends; False when another holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", key))


async def reconcile_state(conn: Conn) -> asyncpg.Record:
    """How far the listing has been read, when a tick last started and last succeeded, and the
    database's clock (the one clock every replica shares)."""
    row = await conn.fetchrow(
        "SELECT covered_to, last_started_at, last_success_at, now() AS now "
        "FROM treasury.reconcile_state WHERE id"
    )
    assert row is not None, "migration 0004 inserts the state row"
    return row


async def mark_reconcile_started(conn: Conn) -> None:
    await conn.execute(
        "UPDATE treasury.reconcile_state SET last_started_at = now(), updated_at = now() WHERE id"
    )


async def finish_reconcile(conn: Conn, covered_to: datetime) -> None:
    """The listing up to `covered_to` is applied; the next tick starts there, less the overlap."""
    await conn.execute(
        "UPDATE treasury.reconcile_state SET covered_to = greatest(covered_to, $1), "
        "last_success_at = now(), updated_at = now() WHERE id",
        covered_to,
    )


async def booked_between(conn: Conn, start: datetime, end: datetime) -> list[asyncpg.Record]:
    """Every deposit our books hold with `start <= transaction_date < end`: credited or held,
    with the amount and account number it came with."""
    return await conn.fetch(
        """
        SELECT 'credited' AS outcome, t.transaction_reference, t.amount, a.account_number,
               t.credited_by
          FROM treasury.bank_transactions t
          JOIN treasury.bank_accounts a ON a.id = t.bank_account_id
         WHERE t.type = 'credit' AND t.transaction_date >= $1 AND t.transaction_date < $2
        UNION ALL
        SELECT 'held' AS outcome, u.transaction_reference, u.amount, u.account_number, NULL
          FROM treasury.unmatched_deposits u
         WHERE u.transaction_date >= $1 AND u.transaction_date < $2
        """,
        start,
        end,
    )


async def booked_for(conn: Conn, references: list[str]) -> list[asyncpg.Record]:
    """Our record of these references, whatever their dates in our books."""
    return await conn.fetch(
        """
        SELECT 'credited' AS outcome, t.transaction_reference, t.amount, a.account_number
          FROM treasury.bank_transactions t
          JOIN treasury.bank_accounts a ON a.id = t.bank_account_id
         WHERE t.transaction_reference = ANY($1::text[])
        UNION ALL
        SELECT 'held' AS outcome, u.transaction_reference, u.amount, u.account_number
          FROM treasury.unmatched_deposits u
         WHERE u.transaction_reference = ANY($1::text[])
        """,
        references,
    )


# --- operations: how a person resolved a deposit ----------------------------------------------


async def settled_outcome(conn: Conn, reference: str) -> str | None:
    """'credited' when a delivery or a person credited this reference, 'returned' when a person
    marked it returned, None otherwise (a held deposit is not settled)."""
    outcome: str | None = await conn.fetchval(
        """
        SELECT 'credited' FROM treasury.bank_transactions WHERE transaction_reference = $1
        UNION ALL
        SELECT outcome FROM treasury.deposit_resolutions WHERE transaction_reference = $1
         LIMIT 1
        """,
        reference,
    )
    return outcome


async def record_resolution(
    conn: Conn,
    resolution_id: str,
    *,
    reference: str,
    case_id: int,
    outcome: str,
    user_id: str | None,
    amount: Decimal | None,
    account_number: str | None,
) -> None:
    """The row that explains an ops credit (or a return). UNIQUE on the reference and the case:
    the backstop under the reference lock and the action's lock."""
    await conn.execute(
        """
        INSERT INTO treasury.deposit_resolutions
            (id, transaction_reference, case_id, outcome, user_id, amount, account_number)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        resolution_id,
        reference,
        case_id,
        outcome,
        user_id,
        amount,
        account_number,
    )


async def resolve_held(conn: Conn, reference: str) -> None:
    """A held deposit a person resolved leaves the open held list."""
    await conn.execute(
        "UPDATE treasury.unmatched_deposits SET resolved_at = now() "
        "WHERE transaction_reference = $1 AND resolved_at IS NULL",
        reference,
    )
