"""The operations API, the same in every service: `/<service>/ops/...`, role `ops`.

Handlers are module-level functions; `ops_api(prefix)` declares them under a service's prefix,
and the service's document includes them (tag "Operations").
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from betfuz_common import idempotency
from betfuz_common.api import Api, Reply, caller
from betfuz_common.auth import requires
from betfuz_common.idempotency import IdempotencyStore, IdempotentRequest, fingerprint, run_once
from betfuz_common.ops import service
from betfuz_common.ops.domain import ActionRefused, CaseAction
from betfuz_common.ops.errors import (
    ActionNotFound,
    ActionNotOffered,
    AlreadyDecided,
    CaseAlreadyResolved,
    CaseNotFound,
    OwnProposal,
    ProposalPending,
)
from betfuz_common.ops.schemas import (
    ActionPath,
    ActionRequest,
    ActionView,
    AuditPage,
    AuditView,
    CaseDetail,
    CasePage,
    CasePath,
    CaseQuery,
    CaseView,
    DecisionRequest,
)
from betfuz_common.pagination import PageQuery, page_of

DECISION_ERRORS = (ActionNotFound, OwnProposal, AlreadyDecided, CaseAlreadyResolved, ActionRefused)


def _ports(request: Request) -> service.OpsPorts:
    state = request.app.state
    return service.OpsPorts(
        state.pool, state.operations, getattr(state, "ports", None), state.ops_metrics
    )


def _actor(request: Request) -> service.Actor:
    return service.Actor(caller(request).user_id, request.state.request_id)


async def _once(
    request: Request, operation: str, payload: dict[str, Any], work: Any
) -> tuple[ActionView, bool]:
    """An ops POST with an Idempotency-Key replays its first answer."""
    ports, actor = _ports(request), _actor(request)
    key = idempotency.header_key(request)
    idem = None
    if key is not None:
        idem = IdempotentRequest(f"ops:{operation}:{actor.user_id}", key, fingerprint(payload))

    async def run() -> ActionView:
        action: CaseAction = await work(ports, actor)
        return ActionView.of(action)

    async def replayed(result: dict[str, Any] | None) -> ActionView:
        assert result is not None, "ops keys were never stored by an earlier release"
        return ActionView.model_validate(result)

    store = IdempotencyStore(ports.operations.schema)
    return await run_once(
        store,
        ports.pool,
        idem,
        run,
        save=lambda view: view.model_dump(mode="json", by_alias=False),
        load=replayed,
    )


def _reply(view: ActionView, replayed: bool) -> Reply[ActionView]:
    return Reply(view, headers={"Idempotent-Replayed": "true"} if replayed else {})


async def list_cases(request: Request, query: CaseQuery) -> CasePage:
    """Cases, newest first (open ones unless asked otherwise)."""
    ports = _ports(request)
    after = query.after(service.CasePageKey)
    chunk = await service.list_cases(ports, _actor(request), query.status, query.limit, after)
    return page_of(chunk, lambda case: CaseView.of(case, ports.operations.allowed(case)), CasePage)


async def get_case(request: Request, path: CasePath) -> CaseDetail:
    """One case with its history: every proposal and decision."""
    return CaseDetail.of_history(
        await service.get_case(_ports(request), _actor(request), path.case_id)
    )


async def act_on_case(request: Request, path: CasePath, body: ActionRequest) -> Reply[ActionView]:
    """Apply an action to a case; one that moves money is proposed for a second ops user."""

    async def work(ports: service.OpsPorts, actor: service.Actor) -> CaseAction:
        return await service.propose(
            ports, actor, path.case_id, body.action, body.reason, body.parameters
        )

    payload = {"case": path.case_id, **body.model_dump(mode="json")}
    view, replayed = await _once(request, "act", payload, work)
    return _reply(view, replayed)


async def approve_action(
    request: Request, path: ActionPath, body: DecisionRequest
) -> Reply[ActionView]:
    """Approve a proposal: it applies, exactly once, with its money movement."""
    return await _decide(request, path, body, approve=True)


async def reject_action(
    request: Request, path: ActionPath, body: DecisionRequest
) -> Reply[ActionView]:
    """Reject a proposal: nothing moves and the case stays open."""
    return await _decide(request, path, body, approve=False)


async def _decide(
    request: Request, path: ActionPath, body: DecisionRequest, *, approve: bool
) -> Reply[ActionView]:
    async def work(ports: service.OpsPorts, actor: service.Actor) -> CaseAction:
        return await service.decide(
            ports, actor, path.action_id, approve=approve, reason=body.reason
        )

    payload = {"action": path.action_id, "approve": approve, **body.model_dump(mode="json")}
    view, replayed = await _once(request, "approve" if approve else "reject", payload, work)
    return _reply(view, replayed)


async def read_audit(request: Request, query: PageQuery) -> AuditPage:
    """The append-only log of every ops request, newest first."""
    chunk = await service.audit_log(_ports(request), _actor(request), query.limit, query.after(int))
    return page_of(chunk, AuditView.of, AuditPage)


def ops_api(prefix: str) -> Api:
    """The operations endpoints under a service's prefix, for tokens with the `ops` role."""
    api = Api(
        title="operations",
        description="cases and their four-eyes resolution",
        tag="Operations",
        auth=requires("ops"),
    )
    base = f"{prefix}/ops"
    api.get(f"{base}/cases")(list_cases)
    api.get(f"{base}/cases/{{caseId}}", errors=(CaseNotFound,))(get_case)
    api.post(
        f"{base}/cases/{{caseId}}/actions",
        status=201,
        idempotent=True,
        errors=(
            CaseNotFound,
            ActionNotOffered,
            CaseAlreadyResolved,
            ProposalPending,
            ActionRefused,
        ),
    )(act_on_case)
    for handler in (approve_action, reject_action):
        verb = handler.__name__.removesuffix("_action")
        api.post(
            f"{base}/actions/{{actionId}}/{verb}",
            status=201,
            idempotent=True,
            errors=DECISION_ERRORS,
        )(handler)
    api.get(f"{base}/audit")(read_audit)
    return api
