"""Topup's operations: the actions an ops user takes on its cases (docs/DESIGN.md, "Topup
operations"). The rules of proposal, four eyes and audit are the shared core's
(`betfuz_common.ops`); here is only what each action does to a topup.

- `requery` asks the provider now and applies its answer through the normal settle path (a
  documented final failure refunds there, as it would from the loop); applies at once.
- `mark_completed` moves no money, but decides a pending topup's fate against the wallet: four
  eyes, and refused at approval if the provider now says it failed.
- `refund` applies at once when the provider's fresh answer is a documented final failure;
  otherwise it overrides the provider and waits for a second ops user. Refused at approval if the
  topup settled meanwhile or the provider now says it was delivered.
- `dismiss` closes the case and changes nothing else.

Every provider question is asked in `prepare`, with no database connection held; what the
action changes commits in the core's one transaction with the case's resolution and the audit.
A refusal that depends on the provider's answer is raised in `apply`, never in `prepare`: the
core checks under its lock that the action is still undecided first, so an approval of an
action already decided stays a 409 whatever the provider says by then.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from betfuz_common.ops.domain import (
    ActionContext,
    ActionRefused,
    ActionSpec,
    Applied,
    Case,
    Operations,
    Prepared,
)
from topup import repository as repo
from topup import service
from topup.domain import Topup, TopupStatus
from topup.errors import TopupNotFound, TopupNotPending
from topup.ports import ProviderResult, TopupPorts
from topup.service import CONTRADICTING_STATUSES, SLA_BREACHED, UNKNOWN_REFERENCE

SCHEMA = "topup"
ANSWER = "answer"  # the key of the provider's fresh answer in Prepared.facts
ABOUT_A_TOPUP = frozenset({SLA_BREACHED, CONTRADICTING_STATUSES})
PENDING_TOPUP = frozenset({SLA_BREACHED})
EVERY_KIND = frozenset({SLA_BREACHED, CONTRADICTING_STATUSES, UNKNOWN_REFERENCE})
# The outcome that agrees with each recorded status (a requery that agrees resolves the case).
AGREEING = {TopupStatus.COMPLETED: "success", TopupStatus.FAILED: "failed"}


def _ports(ports: Any) -> TopupPorts:
    assert isinstance(ports, TopupPorts), "the app hands its TopupPorts to the ops core"
    return ports


def _reference(case: Case) -> str:
    reference = case.refs.get("reference")
    if not isinstance(reference, str):
        raise ActionRefused("this case names no topup")
    return reference


def _answer(prepared: Prepared) -> ProviderResult:
    answer = prepared.facts.get(ANSWER)
    assert isinstance(answer, ProviderResult), "prepare asked the provider"
    return answer


def _said(answer: ProviderResult) -> dict[str, Any]:
    return {
        "outcome": answer.outcome,
        "resultCode": answer.result_code,
        "message": answer.message,
        "externalReference": answer.external_reference,
    }


async def _topup_of(case: Case, ports: TopupPorts) -> Topup:
    async with ports.pool.acquire() as conn:
        topup = await repo.get_by_reference(conn, _reference(case))
    if topup is None:
        raise ActionRefused("no topup has this case's reference")
    return topup


async def _ask(case: Case, ports: TopupPorts) -> ProviderResult:
    return await service.ask_provider(ports, await _topup_of(case, ports))


def _topup_after(topup: Topup, answer: ProviderResult | None = None) -> dict[str, Any]:
    after: dict[str, Any] = {"topupId": topup.id, "status": topup.status.value}
    if answer is not None:
        after["provider"] = _said(answer)
    return after


async def _settle_pending(ctx: ActionContext, result: ProviderResult) -> Topup:
    try:
        ports, reference = _ports(ctx.ports), _reference(ctx.case)
        return await service.settle_pending(ports, ctx.conn, reference, result)
    except TopupNotPending as exc:
        raise ActionRefused(f"{exc}: nothing changed") from None
    except TopupNotFound:
        raise ActionRefused("no topup has this case's reference") from None


# -- requery ------------------------------------------------------------------------------------


async def prepare_requery(case: Case, _: BaseModel | None, ports: Any) -> Prepared:
    return Prepared(needs_approval=False, facts={ANSWER: await _ask(case, _ports(ports))})


async def apply_requery(ctx: ActionContext) -> Applied:
    """The provider's answer through the normal path; the case resolves when the topup is
    settled and the provider agrees with how."""
    answer = _answer(ctx.prepared)
    ports, reference = _ports(ctx.ports), _reference(ctx.case)
    topup = await service.apply_result(ports, ctx.conn, reference, answer, "ops")
    if topup is None:
        raise ActionRefused("no topup has this case's reference")
    agrees = AGREEING.get(topup.status) == answer.outcome
    return Applied(_topup_after(topup, answer), resolves=agrees)


# -- mark_completed -----------------------------------------------------------------------------


async def prepare_mark_completed(case: Case, _: BaseModel | None, ports: Any) -> Prepared:
    # Four eyes although no money moves: it decides, against the wallet, what the provider did.
    return Prepared(needs_approval=True, facts={ANSWER: await _ask(case, _ports(ports))})


async def apply_mark_completed(ctx: ActionContext) -> Applied:
    answer = _answer(ctx.prepared)
    if answer.outcome == "failed":
        raise ActionRefused("the provider now reports this topup failed: refund it instead")
    done = ProviderResult("success", None, "marked completed by operations")
    return Applied(_topup_after(await _settle_pending(ctx, done), answer))


# -- refund -------------------------------------------------------------------------------------


async def prepare_refund(case: Case, _: BaseModel | None, ports: Any) -> Prepared:
    """At once on the provider's documented final failure; anything else is an override."""
    answer = await _ask(case, _ports(ports))
    return Prepared(needs_approval=answer.outcome != "failed", facts={ANSWER: answer})


async def apply_refund(ctx: ActionContext) -> Applied:
    answer = _answer(ctx.prepared)
    if answer.outcome == "success":
        raise ActionRefused("the provider now reports this topup delivered: nothing refunded")
    failure = ProviderResult(
        "failed",
        answer.result_code,
        answer.message if answer.outcome == "failed" else "refunded by operations",
        answer.external_reference,
    )
    topup = await _settle_pending(ctx, failure)
    return Applied({**_topup_after(topup, answer), "refunded": format(topup.amount, "f")})


# -- dismiss ------------------------------------------------------------------------------------


async def apply_dismiss(_: ActionContext) -> Applied:
    return Applied({"dismissed": True})


OPERATIONS = Operations(
    SCHEMA,
    [
        ActionSpec(
            "requery",
            ABOUT_A_TOPUP,
            False,
            apply_requery,
            prepare=prepare_requery,
            description="ask the provider now and apply its answer",
        ),
        ActionSpec(
            "mark_completed",
            PENDING_TOPUP,
            False,
            apply_mark_completed,
            prepare=prepare_mark_completed,
            description="the customer got the airtime: complete the topup (four eyes)",
        ),
        ActionSpec(
            "refund",
            PENDING_TOPUP,
            True,
            apply_refund,
            prepare=prepare_refund,
            description="fail the topup and refund the wallet: at once on the provider's "
            "final failure, otherwise an override for a second ops user",
        ),
        ActionSpec(
            "dismiss",
            EVERY_KIND,
            False,
            apply_dismiss,
            description="nothing to do: close the case",
        ),
    ],
)
