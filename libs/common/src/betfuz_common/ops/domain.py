"""The values of operations: cases, actions on them, audit entries, and how a service declares
an action it offers."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from betfuz_common.db import Conn


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ActionStatus(enum.StrEnum):
    PROPOSED = "proposed"  # waits for a second ops user
    APPLIED = "applied"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Case:
    id: int
    kind: str
    subject: str
    reason: str
    refs: dict[str, Any]
    amounts: dict[str, Decimal]
    detail: dict[str, Any]
    status: CaseStatus
    resolution: str | None
    occurrences: int
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Case:
        values = dict(row)
        values["status"] = CaseStatus(values["status"])
        values["amounts"] = {k: Decimal(str(v)) for k, v in dict(values["amounts"]).items()}
        values.pop("updated_at", None)
        return cls(**values)


@dataclass(frozen=True)
class CaseAction:
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
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> CaseAction:
        values = dict(row)
        values["status"] = ActionStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    request: str
    case_id: int | None
    action_id: int | None
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        return cls(**dict(row))


@dataclass(frozen=True)
class CaseWithHistory:
    case: Case
    actions: list[CaseAction]
    allowed: list[str]


class ActionRefused(Exception):
    """The action cannot apply to this case as it stands (a wallet that does not exist, a
    topup that settled meanwhile): nothing changed."""


@dataclass(frozen=True)
class Prepared:
    """What an action learned before its transaction (a provider's fresh answer)."""

    needs_approval: bool | None = None  # None: as the action declares (money moves → approval)
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionContext:
    conn: Conn  # the one transaction: money, the case's resolution and the audit commit together
    case: Case
    parameters: BaseModel | None
    prepared: Prepared
    ports: Any  # the service's own ports (its provider, its repository's pool)


@dataclass(frozen=True)
class Applied:
    """What applying an action did: the state after, and whether it resolves the case."""

    after: Mapping[str, Any]
    resolves: bool = True


@dataclass(frozen=True)
class ActionSpec:
    """An action a service offers on some kinds of case."""

    name: str
    kinds: frozenset[str]
    moves_money: bool
    apply: Callable[[ActionContext], Awaitable[Applied]]
    parameters: type[BaseModel] | None = None
    # Runs before the transaction, with no connection held (e.g. asks the provider now).
    prepare: Callable[[Case, BaseModel | None, Any], Awaitable[Prepared]] | None = None
    description: str = ""


@dataclass(frozen=True)
class Operations:
    """A service's operations: its schema and the actions it offers."""

    schema: str
    actions: Sequence[ActionSpec]

    def action(self, name: str) -> ActionSpec | None:
        return next((spec for spec in self.actions if spec.name == name), None)

    def allowed(self, case: Case) -> list[str]:
        if case.status is not CaseStatus.OPEN:
            return []
        return [spec.name for spec in self.actions if case.kind in spec.kinds]
