"""SQL for the topup schema and the wallet, and nothing else. Every function runs on the
caller's connection, so the caller decides what shares a transaction; rows come back as domain
values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from betfuz_common.db import Conn
from topup.domain import Order, Topup

COLUMNS = (
    "id, user_id, phone, carrier, amount, type, status, reference, external_reference, "
    "idempotency_key, error_message, result_code, attempts, review_flag, completed_at, "
    "failed_at, created_at, provider, provider_reference, product_code"
)
STATUS_CHANNEL = "topup_status_changed"
# What a settling UPDATE (in a CTE named `settled`) is selected through: the status change and
# its notification in one statement, one round trip fewer per settlement. Delivered to
# LISTENers when the surrounding transaction commits, never before; JSON of
# {topup_id, user_id, status, reference}.
SETTLED_AND_NOTIFIED = f"""
SELECT settled.*
  FROM settled,
       LATERAL (SELECT pg_notify('{STATUS_CHANNEL}', json_build_object(
                    'topup_id', settled.id, 'user_id', settled.user_id,
                    'status', settled.status, 'reference', settled.reference)::text)) AS notified
"""  # noqa: S608 - constants only


def _one(row: Any) -> Topup | None:
    return None if row is None else Topup.from_row(row)


def _all(rows: list[Any]) -> list[Topup]:
    return [Topup.from_row(row) for row in rows]


async def wallet_exists(conn: Conn, user_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM public.users WHERE id = $1", user_id))


async def credit_wallet(conn: Conn, user_id: str, amount: Decimal) -> None:
    updated = await conn.execute(
        "UPDATE public.users SET balance = balance + $2, updated_at = now() WHERE id = $1",
        user_id,
        amount,
    )
    if updated != "UPDATE 1":
        # The wallet we debited is gone: let the transaction fail rather than lose the refund.
        raise RuntimeError("wallet to refund does not exist")


async def debit_and_insert_topup(
    conn: Conn,
    *,
    topup_id: str,
    user_id: str,
    order: Order,
    reference: str,
    idempotency_key: str,
    check_after_seconds: float,
    provider: str = "selcom",
    provider_reference: str | None = None,
) -> Topup | None:
    """Take the amount from the wallet and record the pending topup, in one statement (one
    round trip); None, with nothing changed, when the balance does not cover it.

    The debit locks the user's row, so concurrent debits queue; the topup row is inserted only
    from the row the debit returned, so one never happens without the other. The provider that
    will get the order, and the id it will know it by, are recorded before any call is made.
    """
    row = await conn.fetchrow(
        f"""
        WITH debit AS (
            UPDATE public.users SET balance = balance - $5, updated_at = now()
             WHERE id = $2 AND balance >= $5
            RETURNING id
        )
        INSERT INTO topup.topup_transactions
            (id, user_id, phone, carrier, amount, type, reference, idempotency_key, next_check_at,
             provider, provider_reference, product_code)
        SELECT $1, debit.id, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9),
               $10, $11, $12
          FROM debit
        RETURNING {COLUMNS}
        """,  # noqa: S608 - COLUMNS is a constant
        topup_id,
        user_id,
        order.phone,
        order.carrier.value,
        order.amount,
        order.type.value,
        reference,
        idempotency_key,
        check_after_seconds,
        provider,
        provider_reference,
        order.product_code,
    )
    return _one(row)


async def reassign_provider(
    conn: Conn, reference: str, *, refused_by: str, provider: str, provider_reference: str | None
) -> Topup | None:
    """Hand a pending topup the provider `refused_by` provably did not take to the next one;
    recorded before the call to it. None when it is no longer pending with `refused_by`."""
    return _one(
        await conn.fetchrow(
            f"""
            UPDATE topup.topup_transactions
               SET provider = $3, provider_reference = $4, updated_at = now(),
                   metadata = metadata || jsonb_build_object(
                       'refused_by', COALESCE(metadata->'refused_by', '[]'::jsonb)
                                     || to_jsonb($2::text))
             WHERE reference = $1 AND status = 'pending' AND provider = $2
            RETURNING {COLUMNS}
            """,  # noqa: S608
            reference,
            refused_by,
            provider,
            provider_reference,
        )
    )


async def get_by_provider_reference(
    conn: Conn, provider: str, provider_reference: str
) -> Topup | None:
    return _one(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM topup.topup_transactions "  # noqa: S608
            "WHERE provider = $1 AND provider_reference = $2",
            provider,
            provider_reference,
        )
    )


async def find_recent_by_idempotency_key(
    conn: Conn, user_id: str, key: str, within_seconds: float
) -> Topup | None:
    return _one(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM topup.topup_transactions "  # noqa: S608
            "WHERE user_id = $1 AND idempotency_key = $2 "
            "AND created_at > now() - make_interval(secs => $3) "
            "ORDER BY created_at DESC LIMIT 1",
            user_id,
            key,
            within_seconds,
        )
    )


async def newer_with_key_exists(conn: Conn, topup: Topup) -> bool:
    """Whether the user made a purchase under the same idempotency key after this one."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM topup.topup_transactions "
            "WHERE user_id = $1 AND idempotency_key = $2 AND created_at > $3)",
            topup.user_id,
            topup.idempotency_key,
            topup.created_at,
        )
    )


async def get_by_reference(conn: Conn, reference: str) -> Topup | None:
    return _one(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM topup.topup_transactions WHERE reference = $1",  # noqa: S608
            reference,
        )
    )


async def lock_by_reference(conn: Conn, reference: str) -> Topup | None:
    """The topup, its row locked until the caller's transaction ends."""
    return _one(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM topup.topup_transactions WHERE reference = $1 FOR UPDATE",  # noqa: S608
            reference,
        )
    )


async def get_owned(conn: Conn, user_id: str, topup_id: str) -> Topup | None:
    return _one(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM topup.topup_transactions WHERE id = $1 AND user_id = $2",  # noqa: S608
            topup_id,
            user_id,
        )
    )


async def list_owned(
    conn: Conn, user_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[Topup]:
    """Newest first; keyset pagination on (created_at, id) so pages never skip or repeat."""
    if after is None:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM topup.topup_transactions WHERE user_id = $1 "  # noqa: S608
            "ORDER BY created_at DESC, id DESC LIMIT $2",
            user_id,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM topup.topup_transactions "  # noqa: S608
            "WHERE user_id = $1 AND (created_at, id) < ($3, $4) "
            "ORDER BY created_at DESC, id DESC LIMIT $2",
            user_id,
            limit,
            after[0],
            after[1],
        )
    return _all(rows)


async def note_provider_answer(
    conn: Conn, reference: str, result_code: str | None, message: str
) -> Topup | None:
    """The process call returned (or timed out) without settling anything."""
    return _one(
        await conn.fetchrow(
            f"""
            UPDATE topup.topup_transactions
               SET submitted_at = COALESCE(submitted_at, now()),
                   result_code = COALESCE($2, result_code),
                   metadata = metadata || jsonb_build_object('last_answer', $3::text),
                   updated_at = now()
             WHERE reference = $1
            RETURNING {COLUMNS}
            """,  # noqa: S608
            reference,
            result_code,
            message,
        )
    )


async def complete_pending(
    conn: Conn, reference: str, external_reference: str | None, result_code: str | None
) -> Topup | None:
    """pending → completed, notified; None when it was not pending (a duplicate finds nothing
    to do, and notifies nothing)."""
    return _one(
        await conn.fetchrow(
            f"""
            WITH settled AS (
                UPDATE topup.topup_transactions
                   SET status = 'completed', completed_at = now(), updated_at = now(),
                       submitted_at = COALESCE(submitted_at, now()),
                       external_reference = COALESCE($2, external_reference),
                       result_code = COALESCE($3, result_code)
                 WHERE reference = $1 AND status = 'pending'
                RETURNING {COLUMNS}
            )
            {SETTLED_AND_NOTIFIED}
            """,  # noqa: S608
            reference,
            external_reference,
            result_code,
        )
    )


async def fail_pending(
    conn: Conn,
    reference: str,
    external_reference: str | None,
    result_code: str | None,
    message: str,
) -> Topup | None:
    """pending → failed, notified; None when it was not pending. The caller refunds in the
    same transaction."""
    return _one(
        await conn.fetchrow(
            f"""
            WITH settled AS (
                UPDATE topup.topup_transactions
                   SET status = 'failed', failed_at = now(), updated_at = now(),
                       submitted_at = COALESCE(submitted_at, now()),
                       external_reference = COALESCE($2, external_reference),
                       result_code = COALESCE($3, result_code),
                       error_message = $4
                 WHERE reference = $1 AND status = 'pending'
                RETURNING {COLUMNS}
            )
            {SETTLED_AND_NOTIFIED}
            """,  # noqa: S608
            reference,
            external_reference,
            result_code,
            message,
        )
    )


async def insert_refund(conn: Conn, topup: Topup, source: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO topup.refunds (topup_id, user_id, amount, source, reason) "
        "VALUES ($1, $2, $3, $4, $5)",
        topup.id,
        topup.user_id,
        topup.amount,
        source,
        reason,
    )


async def flag_for_review(
    conn: Conn,
    *,
    reference: str,
    reason: str,
    detail: Mapping[str, Any],
    topup_id: str | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO topup.review_items (reference, topup_id, reason, detail)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (reference, reason) DO UPDATE
           SET occurrences = review_items.occurrences + 1, last_seen_at = now(),
               detail = EXCLUDED.detail
        """,
        reference,
        topup_id,
        reason,
        dict(detail),
    )
    if topup_id is not None:
        await conn.execute(
            """
            UPDATE topup.topup_transactions
               SET review_flag = $2, updated_at = now(),
                   metadata = metadata || jsonb_build_object('review', $3::jsonb)
             WHERE id = $1
            """,
            topup_id,
            reason,
            {"reason": reason, **detail},
        )


async def record_webhook(
    conn: Conn, payload: Mapping[str, Any], outcome: str, provider: str = "selcom"
) -> None:
    await conn.execute(
        "INSERT INTO topup.webhook_events "
        "(order_id, status, reference_id, result_code, outcome, payload, provider) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        payload["order_id"],
        payload["status"],
        payload.get("reference_id"),
        payload.get("result_code"),
        outcome,
        dict(payload),
        provider,
    )


async def due_for_check(conn: Conn, older_than_seconds: float, limit: int) -> list[Topup]:
    return _all(
        await conn.fetch(
            f"SELECT {COLUMNS} FROM topup.topup_transactions "  # noqa: S608
            "WHERE status = 'pending' AND next_check_at <= now() "
            "AND created_at <= now() - make_interval(secs => $1) "
            "ORDER BY next_check_at LIMIT $2",
            older_than_seconds,
            limit,
        )
    )


async def schedule_next_check(
    conn: Conn, topup_id: str, delay_seconds: float, result_code: str | None, message: str
) -> None:
    await conn.execute(
        """
        UPDATE topup.topup_transactions
           SET attempts = attempts + 1,
               next_check_at = now() + make_interval(secs => $2),
               result_code = COALESCE($3, result_code),
               metadata = metadata || jsonb_build_object('last_query', $4::text),
               updated_at = now()
         WHERE id = $1 AND status = 'pending'
        """,
        topup_id,
        delay_seconds,
        result_code,
        message,
    )


async def note_resubmitted(conn: Conn, topup_id: str) -> None:
    await conn.execute(
        """
        UPDATE topup.topup_transactions
           SET metadata = jsonb_set(metadata, '{resubmits}',
                 to_jsonb(COALESCE((metadata->>'resubmits')::int, 0) + 1)),
               updated_at = now()
         WHERE id = $1
        """,
        topup_id,
    )


async def newly_over_sla(conn: Conn, sla_seconds: float) -> list[Topup]:
    """Pending topups past the SLA that nobody has flagged yet; flags them as it returns them."""
    return _all(
        await conn.fetch(
            f"""
            UPDATE topup.topup_transactions
               SET review_flag = 'sla_breached', updated_at = now(),
                   metadata = metadata || jsonb_build_object('sla_breached_at', now())
             WHERE status = 'pending' AND review_flag IS NULL
               AND created_at <= now() - make_interval(secs => $1)
            RETURNING {COLUMNS}
            """,  # noqa: S608
            sla_seconds,
        )
    )


async def count_pending_over(conn: Conn, seconds: float) -> int:
    count = await conn.fetchval(
        "SELECT count(*) FROM topup.topup_transactions "
        "WHERE status = 'pending' AND created_at <= now() - make_interval(secs => $1)",
        seconds,
    )
    return int(count)
