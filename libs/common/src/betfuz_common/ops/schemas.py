"""The operations API's wire models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from betfuz_common.models import QueryModel, RequestModel, ResponseModel
from betfuz_common.money import NairaOut
from betfuz_common.ops.domain import (
    ActionStatus,
    AuditEntry,
    Case,
    CaseAction,
    CaseStatus,
    CaseWithHistory,
)
from betfuz_common.pagination import Page, PageQuery
from betfuz_common.parsing import ascii_int
from betfuz_common.text import CleanStr
from betfuz_common.timestamps import Timestamp

Reason = Annotated[CleanStr, Field(min_length=3, max_length=1000, description="why, for the audit")]


class CaseQuery(PageQuery):
    status: CaseStatus = CaseStatus.OPEN


Id = Annotated[int, Field(ge=1, le=2**62), BeforeValidator(ascii_int)]


class CasePath(QueryModel):
    case_id: Id


class ActionPath(QueryModel):
    action_id: Id


class ActionRequest(RequestModel):
    """`{"action": ..., "reason": ..., <the action's parameters>}`."""

    action: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    reason: Reason
    parameters: dict[str, Any] = Field(
        default_factory=dict, description='what the action needs, e.g. {"userId": ...}'
    )


class DecisionRequest(RequestModel):
    reason: Reason | None = None


def _case_fields(case: Case, allowed: list[str]) -> dict[str, Any]:
    return {
        "id": case.id,
        "kind": case.kind,
        "subject": case.subject,
        "reason": case.reason,
        "refs": case.refs,
        "amounts": [CaseAmount(name=name, amount=value) for name, value in case.amounts.items()],
        "status": case.status,
        "resolution": case.resolution,
        "occurrences": case.occurrences,
        "created_at": case.created_at,
        "resolved_at": case.resolved_at,
        "allowed_actions": allowed,
    }


class CaseAmount(ResponseModel):
    name: str
    amount: NairaOut


class CaseView(ResponseModel):
    id: int
    kind: str
    subject: str
    reason: str
    refs: dict[str, Any]
    amounts: list[CaseAmount]
    status: CaseStatus
    resolution: str | None
    occurrences: int
    created_at: Timestamp
    resolved_at: Timestamp | None
    allowed_actions: list[str]

    @classmethod
    def of(cls, case: Case, allowed: list[str]) -> CaseView:
        return cls(**_case_fields(case, allowed))


class ActionView(ResponseModel):
    id: int
    case_id: int
    action: str
    parameters: dict[str, Any]
    reason: str
    moves_money: bool
    needs_approval: bool
    status: ActionStatus
    proposed_by: str
    decided_by: str | None
    outcome: dict[str, Any] | None
    created_at: Timestamp
    decided_at: Timestamp | None

    @classmethod
    def of(cls, action: CaseAction) -> ActionView:
        return cls.model_validate(action)


class CaseDetail(CaseView):
    """The case with its history: every proposal and decision, oldest first."""

    history: list[ActionView]

    @classmethod
    def of_history(cls, found: CaseWithHistory) -> CaseDetail:
        return cls(
            **_case_fields(found.case, found.allowed),
            history=[ActionView.of(a) for a in found.actions],
        )


class CasePage(Page[CaseView]):
    pass


class AuditView(ResponseModel):
    id: int
    at: Timestamp
    actor: str
    request: str
    case_id: int | None
    action_id: int | None
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditView:
        return cls.model_validate(entry)


class AuditPage(Page[AuditView]):
    pass
