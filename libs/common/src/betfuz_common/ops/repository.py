"""SQL for `<schema>.cases`, `case_actions` and `ops_audit`, and nothing else. The schema name
comes from the service's own registry, never from a request."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from betfuz_common.db import Conn
from betfuz_common.ops.domain import AuditEntry, Case, CaseAction

CASE_COLUMNS = (
    "id, kind, subject, reason, refs, amounts, detail, status, resolution, occurrences, "
    "created_at, resolved_at"
)
ACTION_COLUMNS = (
    "id, case_id, action, parameters, reason, moves_money, needs_approval, status, proposed_by, "
    "decided_by, outcome, created_at, decided_at"
)
AUDIT_COLUMNS = "id, at, actor, request, case_id, action_id, reason, before, after, request_id"


def _case(row: Any) -> Case | None:
    return None if row is None else Case.from_row(row)


def _action(row: Any) -> CaseAction | None:
    return None if row is None else CaseAction.from_row(row)


async def open_case(
    conn: Conn,
    schema: str,
    *,
    kind: str,
    subject: str,
    reason: str,
    refs: Mapping[str, Any],
    amounts: Mapping[str, Decimal],
    detail: Mapping[str, Any],
) -> tuple[Case, bool]:
    """The case for (kind, subject), and whether this call opened it. A repeat of the same
    exception counts on the same case (and reopens nothing a person resolved)."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO {schema}.cases AS c (kind, subject, reason, refs, amounts, detail)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (kind, subject) DO UPDATE
           SET occurrences = c.occurrences + 1, updated_at = now(), detail = EXCLUDED.detail
        RETURNING {CASE_COLUMNS}, (xmax = 0) AS opened
        """,  # noqa: S608 - the schema is ours
        kind,
        subject,
        reason,
        dict(refs),
        {name: format(amount, "f") for name, amount in amounts.items()},
        dict(detail),
    )
    assert row is not None  # an upsert always returns its row
    values = dict(row)
    opened = bool(values.pop("opened"))
    return Case.from_row(values), opened


async def get_case(conn: Conn, schema: str, case_id: int, *, lock: bool = False) -> Case | None:
    suffix = " FOR UPDATE" if lock else ""
    return _case(
        await conn.fetchrow(
            f"SELECT {CASE_COLUMNS} FROM {schema}.cases WHERE id = $1{suffix}",  # noqa: S608
            case_id,
        )
    )


async def find_case(conn: Conn, schema: str, kind: str, subject: str) -> Case | None:
    return _case(
        await conn.fetchrow(
            f"SELECT {CASE_COLUMNS} FROM {schema}.cases WHERE kind = $1 AND subject = $2",  # noqa: S608
            kind,
            subject,
        )
    )


async def list_cases(
    conn: Conn, schema: str, status: str, limit: int, after: tuple[datetime, int] | None
) -> list[Case]:
    """Newest first, keyset on (created_at, id)."""
    if after is None:
        rows = await conn.fetch(
            f"SELECT {CASE_COLUMNS} FROM {schema}.cases WHERE status = $1 "  # noqa: S608
            "ORDER BY created_at DESC, id DESC LIMIT $2",
            status,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {CASE_COLUMNS} FROM {schema}.cases "  # noqa: S608
            "WHERE status = $1 AND (created_at, id) < ($3, $4) "
            "ORDER BY created_at DESC, id DESC LIMIT $2",
            status,
            limit,
            after[0],
            after[1],
        )
    return [Case.from_row(row) for row in rows]


async def resolve_case(conn: Conn, schema: str, case_id: int, resolution: str) -> Case:
    row = await conn.fetchrow(
        f"""
        UPDATE {schema}.cases
           SET status = 'resolved', resolution = $2, resolved_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'open'
        RETURNING {CASE_COLUMNS}
        """,  # noqa: S608
        case_id,
        resolution,
    )
    if row is None:
        raise RuntimeError(f"case {case_id} was not open under its lock")
    return Case.from_row(row)


async def insert_action(
    conn: Conn,
    schema: str,
    *,
    case_id: int,
    action: str,
    parameters: Mapping[str, Any],
    reason: str,
    moves_money: bool,
    needs_approval: bool,
    status: str,
    proposed_by: str,
    decided_by: str | None = None,
    outcome: Mapping[str, Any] | None = None,
) -> CaseAction | None:
    """None when another proposal already waits on the case."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO {schema}.case_actions
            (case_id, action, parameters, reason, moves_money, needs_approval, status,
             proposed_by, decided_by, outcome, decided_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                CASE WHEN $9::varchar IS NULL THEN NULL ELSE now() END)
        ON CONFLICT (case_id) WHERE status = 'proposed' DO NOTHING
        RETURNING {ACTION_COLUMNS}
        """,  # noqa: S608
        case_id,
        action,
        dict(parameters),
        reason,
        moves_money,
        needs_approval,
        status,
        proposed_by,
        decided_by,
        None if outcome is None else dict(outcome),
    )
    return _action(row)


async def get_action(
    conn: Conn, schema: str, action_id: int, *, lock: bool = False
) -> CaseAction | None:
    suffix = " FOR UPDATE" if lock else ""
    return _action(
        await conn.fetchrow(
            f"SELECT {ACTION_COLUMNS} FROM {schema}.case_actions WHERE id = $1{suffix}",  # noqa: S608
            action_id,
        )
    )


async def decide_action(
    conn: Conn,
    schema: str,
    action_id: int,
    *,
    status: str,
    decided_by: str,
    outcome: Mapping[str, Any] | None,
) -> CaseAction:
    row = await conn.fetchrow(
        f"""
        UPDATE {schema}.case_actions
           SET status = $2, decided_by = $3, outcome = $4, decided_at = now()
         WHERE id = $1 AND status = 'proposed'
        RETURNING {ACTION_COLUMNS}
        """,  # noqa: S608
        action_id,
        status,
        decided_by,
        None if outcome is None else dict(outcome),
    )
    if row is None:
        raise RuntimeError(f"action {action_id} was not proposed under its lock")
    return CaseAction.from_row(row)


async def actions_of(conn: Conn, schema: str, case_id: int) -> list[CaseAction]:
    rows = await conn.fetch(
        f"SELECT {ACTION_COLUMNS} FROM {schema}.case_actions WHERE case_id = $1 ORDER BY id",  # noqa: S608
        case_id,
    )
    return [CaseAction.from_row(row) for row in rows]


async def audit(
    conn: Conn,
    schema: str,
    *,
    actor: str,
    request: str,
    request_id: str,
    case_id: int | None = None,
    action_id: int | None = None,
    reason: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    await conn.execute(
        f"""
        INSERT INTO {schema}.ops_audit
            (actor, request, case_id, action_id, reason, before, after, request_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,  # noqa: S608
        actor,
        request,
        case_id,
        action_id,
        reason,
        None if before is None else dict(before),
        None if after is None else dict(after),
        request_id,
    )


async def audit_page(
    conn: Conn, schema: str, limit: int, before_id: int | None
) -> list[AuditEntry]:
    """Newest first."""
    if before_id is None:
        rows = await conn.fetch(
            f"SELECT {AUDIT_COLUMNS} FROM {schema}.ops_audit ORDER BY id DESC LIMIT $1",  # noqa: S608
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {AUDIT_COLUMNS} FROM {schema}.ops_audit WHERE id < $2 "  # noqa: S608
            "ORDER BY id DESC LIMIT $1",
            limit,
            before_id,
        )
    return [AuditEntry.from_row(row) for row in rows]


async def oldest_open_case_age_seconds(conn: Conn, schema: str) -> float:
    age = await conn.fetchval(
        f"SELECT EXTRACT(EPOCH FROM now() - min(created_at)) FROM {schema}.cases "  # noqa: S608
        "WHERE status = 'open'"
    )
    return float(age or 0)
