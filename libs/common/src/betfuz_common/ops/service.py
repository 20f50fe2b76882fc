"""The operations rules, once for every service.

- A case is opened where an exception happens, in the transaction that records it, and a repeat
  of the same exception counts on the same case.
- An action that does not move money applies at once. One that does is proposed, and applied
  only when an ops user other than its proposer approves it — in ONE transaction with the money
  movement, the case's resolution and the audit record. The action row is locked first, so of
  concurrent approvals exactly one applies; the others find it decided (409).
- Every ops request leaves a row in the append-only audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from pydantic import BaseModel, ValidationError

from betfuz_common import jsonio
from betfuz_common.db import Conn
from betfuz_common.errors import FieldError, validation_problem
from betfuz_common.logging import get_logger
from betfuz_common.ops import repository as repo
from betfuz_common.ops.domain import (
    ActionContext,
    ActionSpec,
    ActionStatus,
    AuditEntry,
    Case,
    CaseAction,
    CaseStatus,
    CaseWithHistory,
    Operations,
    Prepared,
)
from betfuz_common.ops.errors import (
    ActionNotFound,
    ActionNotOffered,
    AlreadyDecided,
    CaseAlreadyResolved,
    CaseNotFound,
    OwnProposal,
    ProposalPending,
)
from betfuz_common.ops.metrics import OpsMetrics
from betfuz_common.pagination import Slice, slice_of
from betfuz_common.parsing import field_errors

log = get_logger("betfuz.ops")
CasePageKey = tuple[datetime, int]


@dataclass(frozen=True)
class OpsPorts:
    pool: asyncpg.Pool
    operations: Operations
    service_ports: Any  # what the service's actions need (its provider, ...)
    metrics: OpsMetrics | None = None  # ops_actions_total, counted once a decision committed

    def count(self, action: str, status: str) -> None:
        if self.metrics is not None:
            self.metrics.action(action, status)


@dataclass(frozen=True)
class Actor:
    """Who asks, and the request it belongs to (for the audit)."""

    user_id: str
    request_id: str


def _snapshot(value: Any) -> dict[str, Any]:
    """A JSON-safe picture of a case or an action for the audit's before/after."""
    loaded: dict[str, Any] = jsonio.loads(jsonio.dumps(asdict(value)))
    return loaded


async def open_case(
    conn: Conn,
    operations: Operations,
    *,
    kind: str,
    subject: str,
    reason: str,
    refs: Mapping[str, Any] | None = None,
    amounts: Mapping[str, Decimal] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Case:
    """For services: record an exception as a case, inside the caller's transaction."""
    case, opened = await repo.open_case(
        conn,
        operations.schema,
        kind=kind,
        subject=subject[:200],
        reason=reason,
        refs=refs or {},
        amounts=amounts or {},
        detail=detail or {},
    )
    if opened:
        log.warning("case_opened", case_id=case.id, kind=kind, subject=subject)
    return case


async def list_cases(
    ports: OpsPorts, actor: Actor, status: CaseStatus, limit: int, after: CasePageKey | None
) -> Slice[Case, CasePageKey]:
    schema = ports.operations.schema
    async with ports.pool.acquire() as conn, conn.transaction():
        cases = await repo.list_cases(conn, schema, status.value, limit + 1, after)
        await repo.audit(
            conn, schema, actor=actor.user_id, request="list_cases", request_id=actor.request_id
        )
    return slice_of(cases, limit, lambda case: (case.created_at, case.id))


async def get_case(ports: OpsPorts, actor: Actor, case_id: int) -> CaseWithHistory:
    schema = ports.operations.schema
    async with ports.pool.acquire() as conn, conn.transaction():
        case = await repo.get_case(conn, schema, case_id)
        if case is None:
            raise CaseNotFound(case_id)
        actions = await repo.actions_of(conn, schema, case_id)
        await repo.audit(
            conn,
            schema,
            actor=actor.user_id,
            request="get_case",
            request_id=actor.request_id,
            case_id=case_id,
        )
    return CaseWithHistory(case, actions, ports.operations.allowed(case))


def _parameters(spec: ActionSpec, given: Mapping[str, Any]) -> BaseModel | None:
    if spec.parameters is None:
        if given:
            raise validation_problem(
                [FieldError(name, "is not a parameter of this action") for name in given]
            )
        return None
    try:
        return spec.parameters.model_validate(given)
    except ValidationError as exc:
        raise validation_problem(field_errors(exc)) from None


async def propose(
    ports: OpsPorts,
    actor: Actor,
    case_id: int,
    action: str,
    reason: str,
    given: Mapping[str, Any],
) -> CaseAction:
    """Apply an action at once, or propose it for a second ops user when it moves money."""
    operations = ports.operations
    async with ports.pool.acquire() as conn:
        case = await repo.get_case(conn, operations.schema, case_id)
    if case is None:
        raise CaseNotFound(case_id)
    spec = operations.action(action)
    if spec is None or case.kind not in spec.kinds:
        raise ActionNotOffered(f"{action!r} is not offered for a {case.kind} case")
    if case.status is not CaseStatus.OPEN:
        raise CaseAlreadyResolved(case_id)
    parameters = _parameters(spec, given)
    # Asked with no connection held: a slow provider must not starve the pool.
    prepared = (
        await spec.prepare(case, parameters, ports.service_ports) if spec.prepare else Prepared()
    )
    needs_approval = (
        spec.moves_money if prepared.needs_approval is None else prepared.needs_approval
    )
    dumped = parameters.model_dump(mode="json") if parameters is not None else {}
    if needs_approval:
        return await _propose(ports, actor, case, spec, reason, dumped)
    return await _apply_now(ports, actor, case, spec, reason, parameters, dumped, prepared)


async def _propose(
    ports: OpsPorts,
    actor: Actor,
    case: Case,
    spec: ActionSpec,
    reason: str,
    parameters: dict[str, Any],
) -> CaseAction:
    schema = ports.operations.schema
    async with ports.pool.acquire() as conn, conn.transaction():
        proposed = await repo.insert_action(
            conn,
            schema,
            case_id=case.id,
            action=spec.name,
            parameters=parameters,
            reason=reason,
            moves_money=spec.moves_money,
            needs_approval=True,
            status=ActionStatus.PROPOSED.value,
            proposed_by=actor.user_id,
        )
        if proposed is None:
            raise ProposalPending(case.id)
        await repo.audit(
            conn,
            schema,
            actor=actor.user_id,
            request="propose",
            request_id=actor.request_id,
            case_id=case.id,
            action_id=proposed.id,
            reason=reason,
            before=_snapshot(case),
            after=_snapshot(proposed),
        )
    ports.count(spec.name, ActionStatus.PROPOSED.value)
    log.info("ops_action_proposed", case_id=case.id, action=spec.name, action_id=proposed.id)
    return proposed


async def _apply_now(
    ports: OpsPorts,
    actor: Actor,
    case: Case,
    spec: ActionSpec,
    reason: str,
    parameters: BaseModel | None,
    dumped: dict[str, Any],
    prepared: Prepared,
) -> CaseAction:
    schema = ports.operations.schema
    async with ports.pool.acquire() as conn, conn.transaction():
        locked = await repo.get_case(conn, schema, case.id, lock=True)
        if locked is None or locked.status is not CaseStatus.OPEN:
            raise CaseAlreadyResolved(case.id)
        applied = await spec.apply(
            ActionContext(conn, locked, parameters, prepared, ports.service_ports)
        )
        after = (
            await repo.resolve_case(conn, schema, case.id, spec.name)
            if applied.resolves
            else locked
        )
        action = await repo.insert_action(
            conn,
            schema,
            case_id=case.id,
            action=spec.name,
            parameters=dumped,
            reason=reason,
            moves_money=spec.moves_money,
            needs_approval=False,
            status=ActionStatus.APPLIED.value,
            proposed_by=actor.user_id,
            decided_by=actor.user_id,
            outcome=applied.after,
        )
        assert action is not None  # an applied row never conflicts with a waiting proposal
        await repo.audit(
            conn,
            schema,
            actor=actor.user_id,
            request="apply",
            request_id=actor.request_id,
            case_id=case.id,
            action_id=action.id,
            reason=reason,
            before=_snapshot(locked),
            after={"case": _snapshot(after), "outcome": dict(applied.after)},
        )
    ports.count(spec.name, ActionStatus.APPLIED.value)
    log.info("ops_action_applied", case_id=case.id, action=spec.name, action_id=action.id)
    return action


async def decide(
    ports: OpsPorts, actor: Actor, action_id: int, *, approve: bool, reason: str | None
) -> CaseAction:
    """Approve (apply exactly once) or reject a proposal, as an ops user other than its
    proposer."""
    operations = ports.operations
    schema = operations.schema
    async with ports.pool.acquire() as conn:
        seen = await repo.get_action(conn, schema, action_id)
    if seen is None:
        raise ActionNotFound(action_id)
    if seen.proposed_by == actor.user_id:
        raise OwnProposal(action_id)
    spec = operations.action(seen.action)
    assert spec is not None, f"proposal {action_id} names an action the service dropped"
    parameters = _parameters(spec, seen.parameters)
    prepared = Prepared()
    if approve and spec.prepare is not None:
        # Fresh facts for the approval (the provider may have settled it meanwhile).
        async with ports.pool.acquire() as conn:
            case = await repo.get_case(conn, schema, seen.case_id)
        assert case is not None
        prepared = await spec.prepare(case, parameters, ports.service_ports)
    async with ports.pool.acquire() as conn, conn.transaction():
        action = await repo.get_action(conn, schema, action_id, lock=True)
        assert action is not None
        if action.status is not ActionStatus.PROPOSED:
            raise AlreadyDecided(action_id)
        case = await repo.get_case(conn, schema, action.case_id, lock=True)
        assert case is not None
        if not approve:
            decided = await repo.decide_action(
                conn, schema, action_id, status="rejected", decided_by=actor.user_id, outcome=None
            )
            after: dict[str, Any] = {"action": _snapshot(decided)}
        else:
            if case.status is not CaseStatus.OPEN:
                raise CaseAlreadyResolved(case.id)
            applied = await spec.apply(
                ActionContext(conn, case, parameters, prepared, ports.service_ports)
            )
            resolved = (
                await repo.resolve_case(conn, schema, case.id, spec.name)
                if applied.resolves
                else case
            )
            decided = await repo.decide_action(
                conn,
                schema,
                action_id,
                status="applied",
                decided_by=actor.user_id,
                outcome=applied.after,
            )
            after = {"case": _snapshot(resolved), "outcome": dict(applied.after)}
        await repo.audit(
            conn,
            schema,
            actor=actor.user_id,
            request="approve" if approve else "reject",
            request_id=actor.request_id,
            case_id=case.id,
            action_id=action_id,
            reason=reason,
            before={"case": _snapshot(case), "action": _snapshot(action)},
            after=after,
        )
    ports.count(decided.action, decided.status.value)
    log.info("ops_action_decided", action_id=action_id, approved=approve, by=actor.user_id)
    return decided


async def audit_log(
    ports: OpsPorts, actor: Actor, limit: int, before: int | None
) -> Slice[AuditEntry, int]:
    schema = ports.operations.schema
    async with ports.pool.acquire() as conn, conn.transaction():
        entries = await repo.audit_page(conn, schema, limit + 1, before)
        await repo.audit(
            conn, schema, actor=actor.user_id, request="read_audit", request_id=actor.request_id
        )
    return slice_of(entries, limit, lambda entry: entry.id)
