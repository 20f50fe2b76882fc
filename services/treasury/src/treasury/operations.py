"""Treasury's cases and the actions that resolve them, on the shared operations core.

Cases (opened by service.py where the exception is recorded, in the same transaction):
  deposit_held       a deposit we could not credit: unknown_account, suspended_account,
                     closed_account, missing_user (the account's user row is gone)
  deposit_refused    a signed deposit notice our parser refused (kept raw)
  reference_reused   a reference already credited or held, again with another amount/account
  amount_mismatch    reconciliation: Wema's listing differs from what we credited (opened there)

Actions (docs/DESIGN.md, "Treasury's cases and actions"):
  credit_user    moves money: proposed, applied on another ops user's approval, in ONE
                 transaction with the wallet credit, the deposit_resolutions row that explains
                 it, the case's resolution and the audit
  mark_returned  the bank returned the money to its sender: no money moves in our books, but it
                 decides a customer's money for good, so it waits for a second ops user too
  dismiss        applies at once (nothing to do: a bank test transfer, a duplicate case)
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from betfuz_common.db import Conn
from betfuz_common.ops.domain import (
    ActionContext,
    ActionRefused,
    ActionSpec,
    Applied,
    Case,
    Operations,
    Prepared,
)
from betfuz_common.text import CleanStr
from treasury import repository as repo

SCHEMA = "treasury"

DEPOSIT_HELD = "deposit_held"
DEPOSIT_REFUSED = "deposit_refused"
REFERENCE_REUSED = "reference_reused"
AMOUNT_MISMATCH = "amount_mismatch"

# Why a deposit is held, as the case says it (unmatched_deposits keeps its own older names).
HELD_REASONS = {
    "unknown_account": "unknown_account",
    "account_suspended": "suspended_account",
    "account_closed": "closed_account",
    "user_missing": "missing_user",
}

# Which kinds each action is offered for, and why (docs/DESIGN.md):
# - credit_user only where the money reached Wema and nobody was credited for it: a held deposit,
#   or a signed notice we refused to read. A reused reference was already credited or held under
#   that reference; a mismatch was credited: crediting again would pay twice.
# - mark_returned wherever the bank may have sent the money back instead.
# - dismiss everywhere: the only action for a mismatch, whose correction is Wema's to explain.
CREDITABLE = frozenset({DEPOSIT_HELD, DEPOSIT_REFUSED})
RETURNABLE = frozenset({DEPOSIT_HELD, DEPOSIT_REFUSED, REFERENCE_REUSED})
ALL_KINDS = frozenset({DEPOSIT_HELD, DEPOSIT_REFUSED, REFERENCE_REUSED, AMOUNT_MISMATCH})

UserId = Annotated[CleanStr, Field(min_length=1, max_length=128)]


class CreditUserParameters(BaseModel):
    # Not a RequestModel: the core stores a proposal's parameters by field name and reads them
    # back at approval, so the field name must be the wire name.
    model_config = ConfigDict(extra="forbid", frozen=True)

    userId: UserId  # the wire name


def _deposit_of(case: Case) -> tuple[str, Decimal]:
    """The reference and amount an ops credit uses: only what the case recorded."""
    reference = case.refs.get("reference")
    amount = case.amounts.get("amount")
    if not isinstance(reference, str) or not reference:
        raise ActionRefused("this case records no deposit reference to credit under")
    if amount is None or amount <= 0:
        raise ActionRefused("this case records no deposit amount to credit")
    return reference, amount


async def _refuse_if_settled(conn: Conn, reference: str) -> None:
    settled = await repo.settled_outcome(conn, reference)
    if settled == "credited":
        raise ActionRefused(f"deposit {reference} is already credited")
    if settled == "returned":
        raise ActionRefused(f"deposit {reference} was already marked returned")


async def _check_credit(case: Case, parameters: Any, ports: Any) -> Prepared:
    """At proposal (and again before an approval): refuse early a credit that cannot apply,
    sparing a second person a doomed review. Only what cannot race a concurrent approval: a
    check that the deposit is still uncredited here would answer 422 to the approvals that
    lost the race to the winner, which must get 409. The apply step checks it all under its
    locks."""
    assert isinstance(parameters, CreditUserParameters)
    _deposit_of(case)
    async with ports.pool.acquire() as conn:
        if not await repo.user_exists(conn, parameters.userId):
            raise ActionRefused(f"no wallet for user {parameters.userId}")
    return Prepared()


async def credit_user(ctx: ActionContext) -> Applied:
    parameters = ctx.parameters
    assert isinstance(parameters, CreditUserParameters)
    conn, case = ctx.conn, ctx.case
    reference, amount = _deposit_of(case)
    # The same lock every delivery of this reference takes first: a webhook or a reconciliation
    # tick crediting it now either committed before us (refused below) or waits and then finds
    # our resolution (a duplicate).
    await repo.lock_reference(conn, reference)
    await _refuse_if_settled(conn, reference)
    balance = await repo.credit_user(conn, parameters.userId, amount)
    if balance is None:
        raise ActionRefused(f"no wallet for user {parameters.userId}")
    resolution_id = f"dres_{uuid.uuid4().hex}"
    await repo.record_resolution(
        conn,
        resolution_id,
        reference=reference,
        case_id=case.id,
        outcome="credited",
        user_id=parameters.userId,
        amount=amount,
        account_number=_account_number(case),
    )
    await repo.resolve_held(conn, reference)
    await repo.notify_balance(
        conn,
        {
            "user_id": parameters.userId,
            "balance": balance,
            "amount": amount,
            "transaction_reference": reference,
            "source": "ops",
        },
    )
    return Applied(
        {
            "credited": parameters.userId,
            "amount": format(amount, "f"),
            "balance": format(balance, "f"),
            "resolution": resolution_id,
        }
    )


def _account_number(case: Case) -> str | None:
    number = case.refs.get("accountNumber")
    return number if isinstance(number, str) and len(number) == 10 else None


async def _four_eyes(case: Case, parameters: Any, ports: Any) -> Prepared:
    return Prepared(needs_approval=True)


async def mark_returned(ctx: ActionContext) -> Applied:
    """The bank sent the money back to its sender. Nobody is credited; the reference is
    recorded as returned so that no later delivery credits it."""
    conn, case = ctx.conn, ctx.case
    reference = case.refs.get("reference")
    if case.kind == REFERENCE_REUSED or not isinstance(reference, str) or not reference:
        # A reused reference is already credited or held under its first delivery, which no
        # later delivery can credit again; a refused notice we could not read a reference from
        # has nothing to record it under. Either way only the case is resolved.
        return Applied({"returned": True})
    # Never while this case's row is locked and a delivery holding the reference lock waits on
    # it: deliveries touch only reference_reused cases (left out above) or a case they insert.
    await repo.lock_reference(conn, reference)
    await _refuse_if_settled(conn, reference)
    resolution_id = f"dres_{uuid.uuid4().hex}"
    await repo.record_resolution(
        conn,
        resolution_id,
        reference=reference,
        case_id=case.id,
        outcome="returned",
        user_id=None,
        amount=case.amounts.get("amount"),
        account_number=_account_number(case),
    )
    await repo.resolve_held(conn, reference)
    return Applied({"returned": True, "resolution": resolution_id})


async def dismiss(ctx: ActionContext) -> Applied:
    reference = ctx.case.refs.get("reference")
    if ctx.case.kind == DEPOSIT_HELD and isinstance(reference, str):
        await repo.resolve_held(ctx.conn, reference)
    return Applied({"dismissed": True})


OPERATIONS = Operations(
    SCHEMA,
    [
        ActionSpec(
            "credit_user",
            CREDITABLE,
            moves_money=True,
            apply=credit_user,
            parameters=CreditUserParameters,
            prepare=_check_credit,
            description="credit the deposit's amount to userId's wallet (needs approval)",
        ),
        ActionSpec(
            "mark_returned",
            RETURNABLE,
            moves_money=False,
            apply=mark_returned,
            prepare=_four_eyes,
            description="the bank returned the money to its sender (needs approval)",
        ),
        ActionSpec(
            "dismiss",
            ALL_KINDS,
            moves_money=False,
            apply=dismiss,
            description="nothing to do (applies at once)",
        ),
    ],
)
