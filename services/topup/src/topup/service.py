"""Topup rules: debit and record in one transaction, call the provider after the commit, settle
each topup exactly once whichever of the process answer, the webhook or the status query says so.

Plain functions taking their ports; they return domain values and raise domain errors.
The refund rule lives in `settle`: only a definitive failure refunds, in the same transaction
as the status change and the refund row.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from betfuz_common.db import Conn
from betfuz_common.errors import WalletNotFound
from betfuz_common.idempotency import RETENTION, IdempotentRequest, Replay, fingerprint
from betfuz_common.logging import get_logger
from betfuz_common.ops.service import open_case
from betfuz_common.pagination import Slice, slice_of
from betfuz_common.webhooks import SignedPayloadRefused
from betfuz_common.webhooks import keep_refused as keep_refused_notification
from topup import repository as repo
from topup.domain import Order, ProductType, Purchase, Topup, TopupStatus
from topup.errors import (
    InsufficientFunds,
    NoProductCodeForAirtime,
    PlansUnavailable,
    PriceMismatch,
    ProductCodeRequired,
    ProviderUnavailable,
    TopupNotFound,
    TopupNotPending,
    UnknownProduct,
)
from topup.ports import AirtimeProvider, Plan, ProcessOrder, ProviderResult, TopupPorts
from topup.provider import outcome_for_status
from topup.schemas import SelcomNotification, VtpassNotification

log = get_logger("topup")

# What told us a topup's fate; "ops" is an operations action (docs/DESIGN.md, "Topup operations").
Source = Literal["process", "webhook", "query", "ops"]
# The kinds of case topup opens, one per exception a person must resolve.
SLA_BREACHED = "sla_breached"
CONTRADICTING_STATUSES = "contradicting_statuses"
UNKNOWN_REFERENCE = "unknown_reference"
# review_items' reason for each kind of case (the older table's own words).
REVIEW_REASONS = {
    SLA_BREACHED: "sla_breached",
    CONTRADICTING_STATUSES: "contradicting_status",
    UNKNOWN_REFERENCE: "unknown_reference",
}
# The provider whose signed webhook `handle_notification` reads (a topup names its own provider).
SELCOM = "selcom"
# The failure of an order every provider on its route provably did not take (nothing was sent).
NOBODY_TOOK_IT = "no provider took the order"
Settled = Literal["applied", "duplicate", "contradicting", "unknown_reference", "noted"]
PageKey = tuple[datetime, str]  # (created_at, id) of the last topup a page showed
DERIVED_PREFIX = "derived:"


def new_topup_id() -> str:
    return "top_" + secrets.token_hex(12)


def new_reference() -> str:
    # The provider's transid: short, alphanumeric, unguessable.
    return "TOP" + secrets.token_hex(8).upper()


def derived_key(user_id: str, order: Order) -> str:
    """The spec's key when the client sends none: hash of user+phone+carrier+amount+type."""
    canonical = order.canonical()
    what = canonical.get("amount") or "plan:" + canonical["product_code"]
    parts = [user_id, canonical["phone"], canonical["carrier"], what]
    digest = hashlib.sha256("|".join([*parts, canonical["type"]]).encode()).hexdigest()
    return DERIVED_PREFIX + digest


def idempotency_for(user_id: str, order: Order, client_key: str | None) -> IdempotentRequest:
    """Every purchase is idempotent: on the client's key, else on the spec's derived key."""
    key = client_key or derived_key(user_id, order)
    # The scope is the user alone, as it always was: keys stored by earlier releases still count.
    return IdempotentRequest(user_id, key, fingerprint(order.canonical()), client_key is None)


def _plan_seller(ports: TopupPorts, route: tuple[str, ...]) -> str | None:
    """The provider on a route whose data plans are sold: the first one that sells plans."""
    return next((p for p in route if not ports.provider(p).sells_data_by_amount), None)


async def list_plans(ports: TopupPorts, carrier: str) -> tuple[str | None, list[Plan]]:
    """The data plans of the provider the route selects (none on a by-amount route)."""
    seller = _plan_seller(ports, ports.router.route(carrier, ProductType.DATA.value))
    if seller is None:
        return None, []
    return seller, await ports.catalogue.plans(ports.provider(seller), carrier)


async def price(ports: TopupPorts, order: Order) -> tuple[Order, list[str]]:
    """The order with its amount (a plan's price, freshly listed), and the providers that may
    get it, in order. Raises before anything is written."""
    carrier, kind = order.carrier.value, order.type.value
    route = ports.router.route(carrier, kind)
    if order.type is ProductType.AIRTIME:
        if order.product_code is not None:
            raise NoProductCodeForAirtime
        candidates = ports.router.candidates(carrier, kind)
    elif order.product_code is None:
        if not any(ports.provider(p).sells_data_by_amount for p in route):
            raise ProductCodeRequired
        # A bare amount goes only to a provider that sells data by amount.
        candidates = [
            p for p in ports.router.candidates(carrier, kind)
            if ports.provider(p).sells_data_by_amount
        ]  # fmt: skip
    else:
        seller = _plan_seller(ports, route)
        if seller is None:
            raise UnknownProduct("data on this route is sold by amount: send no productCode")
        plan = await ports.catalogue.plan(ports.provider(seller), carrier, order.product_code)
        if plan is None:
            raise UnknownProduct
        if order.amount is not None and order.amount != plan.price:
            raise PriceMismatch(f"the plan's price is {format(plan.price, 'f')}")
        order = order.priced(plan.price)
        # A plan code is that provider's own: the order cannot move to another provider.
        candidates = [seller] if seller in ports.router.candidates(carrier, kind) else []
    if not candidates:
        raise ProviderUnavailable
    return order, candidates


class _NotAReplay(Exception):
    """Rolls back a key claimed only to look for a replay."""


async def _replay_if_done(
    ports: TopupPorts, user_id: str, idempotency: IdempotentRequest
) -> Purchase | None:
    """The earlier answer when this purchase was already made (its key finished), else None
    with nothing written: the claim made to find out is rolled back."""
    try:
        async with ports.pool.acquire() as conn, conn.transaction():
            claim = await ports.idempotency.begin(conn, idempotency)
            if isinstance(claim, Replay):
                return await _replay(conn, user_id, idempotency, claim)
            raise _NotAReplay
    except _NotAReplay:
        return None


async def purchase(
    ports: TopupPorts, user_id: str, order: Order, idempotency: IdempotentRequest
) -> Purchase:
    try:
        order, candidates = await price(ports, order)
    except (ProviderUnavailable, PlansUnavailable, UnknownProduct, PriceMismatch):
        # Priced anew, the order may be refused now (a plan's price changed, its list cannot
        # be read, every provider is in its cool-down) although it was bought before: a repeat
        # of a purchase already made is still answered with that purchase.
        replayed = await _replay_if_done(ports, user_id, idempotency)
        if replayed is None:
            raise
        return replayed
    first = ports.provider(candidates[0])
    async with ports.pool.acquire() as conn, conn.transaction():
        claim = await ports.idempotency.begin(conn, idempotency)
        if isinstance(claim, Replay):
            return await _replay(conn, user_id, idempotency, claim)
        if claim.resumed:
            # A crash left the key in flight past its lease: the debit may be done already.
            earlier = await repo.find_recent_by_idempotency_key(
                conn, user_id, idempotency.key, RETENTION.total_seconds()
            )
            if earlier is not None:
                await _finish(ports, conn, idempotency, earlier)
                return Purchase(topup=earlier, replayed=True)
        reference = new_reference()
        topup = await repo.debit_and_insert_topup(
            conn,
            topup_id=new_topup_id(),
            user_id=user_id,
            order=order,
            reference=reference,
            idempotency_key=idempotency.key,
            check_after_seconds=ports.check_after_seconds,
            provider=first.name,
            provider_reference=first.transaction_id(reference, datetime.now(UTC)),
        )
        if topup is None:
            if not await repo.wallet_exists(conn, user_id):
                raise WalletNotFound(user_id)
            raise InsufficientFunds  # rolls back the key claim too: nothing is written
    result = await submit_with_failover(ports, topup, candidates[1:])
    async with ports.pool.acquire() as conn, conn.transaction():
        current = await apply_result(ports, conn, topup.reference, result, "process") or topup
        await _finish(ports, conn, idempotency, current)
    if current.status is TopupStatus.PENDING:
        # The purchase's one outcome line (a settled one is `topup_settled`); with the access
        # line, two lines a purchase.
        log.info(
            "topup_pending",
            topup_id=current.id,
            reference=current.reference,
            result_code=result.result_code,
        )
    ports.metrics.purchases.labels(current.status.value).inc()
    return Purchase(topup=current)


async def _replay(
    conn: Conn, user_id: str, idempotency: IdempotentRequest, replay: Replay
) -> Purchase:
    if replay.result is not None:
        return Purchase(topup=Topup.model_validate(replay.result), replayed=True)
    # Finished by the previous release, which stored no result: the key names the topup.
    earlier = await repo.find_recent_by_idempotency_key(
        conn, user_id, idempotency.key, RETENTION.total_seconds()
    )
    if earlier is None:
        raise TopupNotFound
    return Purchase(topup=earlier, replayed=True)


async def _finish(
    ports: TopupPorts, conn: Conn, idempotency: IdempotentRequest, topup: Topup
) -> None:
    if idempotency.derived and topup.status is TopupStatus.FAILED:
        # The transaction that failed it also forgot the derived key (`_forget_derived_key`).
        # The key row, if any, is now a newer identical purchase's claim: touching it would let
        # a third one through while that one is in flight.
        return
    await ports.idempotency.finish(conn, idempotency, topup.model_dump(mode="json"))


async def _forget_derived_key(ports: TopupPorts, conn: Conn, topup: Topup) -> None:
    """After a failure (and refund), the spec's derived key must not stop the customer from
    trying again at once: nothing of that purchase needs protecting from a repeat. A client's
    own key keeps replaying the failure, as a client key must."""
    if topup.idempotency_key != derived_key(topup.user_id, topup.order()):
        return
    # A topup pending past the key's 24 h may fail after the same purchase was made again and
    # claimed the expired key anew: that claim is the newer purchase's, not ours to drop.
    if await repo.newer_with_key_exists(conn, topup):
        return
    await ports.idempotency.forget(conn, topup.user_id, topup.idempotency_key)


async def submit_with_failover(
    ports: TopupPorts, topup: Topup, others: list[str]
) -> ProviderResult:
    """The first submission of an order: to its recorded provider, then to the next one on its
    route ONLY after a provable non-acceptance ("refused"). Each move is recorded (provider and
    the id the next one knows it by) before the next call, so a crash between the two leaves
    the topup with the provider that is asked next. Refused by all: nobody took it, which is a
    definitive failure (refunded by the settle path)."""
    result = await submit(ports, topup)
    for name in others:
        if result.outcome != "refused":
            return result
        nxt: AirtimeProvider = ports.provider(name)
        async with ports.pool.acquire() as conn, conn.transaction():
            moved = await repo.reassign_provider(
                conn,
                topup.reference,
                refused_by=topup.provider,
                provider=nxt.name,
                provider_reference=nxt.transaction_id(topup.reference, datetime.now(UTC)),
            )
        if moved is None:  # settled meanwhile (an ops action): nothing more to send
            return ProviderResult("pending", result.result_code, result.message)
        log.warning(
            "topup_failover", reference=topup.reference, refused_by=topup.provider, to=nxt.name
        )
        topup = moved
        result = await submit(ports, topup)
    if result.outcome == "refused":
        return ProviderResult(
            "failed", result.result_code, f"{NOBODY_TOOK_IT}: {result.message}"[:500]
        )
    return result


async def submit(ports: TopupPorts, topup: Topup) -> ProviderResult:
    """The order to its recorded provider; the same id every time, so it dedupes a repeat."""
    order = ProcessOrder(
        transid=topup.transid,
        carrier=topup.carrier.value,
        product_type=topup.type.value,
        phone=topup.phone,
        amount=topup.amount,
        product_code=topup.product_code,
    )
    try:
        result = await ports.provider(topup.provider).process(order)
    except Exception as exc:
        log.error("provider_process_crashed", reference=topup.reference, exc_info=exc)
        result = ProviderResult("pending", None, "provider call raised")
    ports.router.record(topup.provider, result.outcome)
    return result


async def ask_provider(ports: TopupPorts, topup: Topup) -> ProviderResult:
    """The provider's word on a topup now: the ONE place every status question goes through
    (reconciliation, a VTpass notification, ops actions). It asks the provider the topup
    recorded, by the id that provider knows it by. A call that raises, or a refused
    connection, is no answer: pending."""
    try:
        result = await ports.provider(topup.provider).query(topup.transid)
    except Exception as exc:
        log.error("provider_query_crashed", reference=topup.reference, exc_info=exc)
        return ProviderResult("pending", None, "query raised")
    if result.outcome == "refused":
        return ProviderResult("pending", result.result_code, result.message)
    return result


def case_refs(topup: Topup) -> dict[str, str]:
    """What a case about a topup names: ours and the provider's references, the customer."""
    refs = {
        "topupId": topup.id,
        "reference": topup.reference,
        "transid": topup.transid,
        "userId": topup.user_id,
        "provider": topup.provider,
    }
    if topup.external_reference:
        refs["externalReference"] = topup.external_reference
    return refs


async def open_topup_case(
    ports: TopupPorts,
    conn: Conn,
    topup: Topup,
    *,
    kind: str,
    reason: str,
    detail: dict[str, Any],
) -> None:
    """The case and the review item for an exception about one topup, in the caller's
    transaction (review_items stays for what reads it; the case is what ops acts on).

    The case row is locked before the topup row (flag_for_review updates it), the order an ops
    action takes them in, so a contradicting notification racing an action cannot deadlock."""
    await open_case(
        conn,
        ports.operations,
        kind=kind,
        subject=topup.reference,
        reason=reason,
        refs=case_refs(topup),
        amounts={"amount": topup.amount},
        detail=detail,
    )
    await repo.flag_for_review(
        conn,
        reference=topup.reference,
        reason=REVIEW_REASONS[kind],
        detail=detail,
        topup_id=topup.id,
    )


async def settle_pending(
    ports: TopupPorts, conn: Conn, reference: str, result: ProviderResult
) -> Topup:
    """An operations action's settlement of a topup that must still be pending: the row is
    locked first, and one that settled meanwhile is refused (`TopupNotPending`) with nothing
    moved. Otherwise the normal path: completion, or failure with its one refund."""
    current = await repo.lock_by_reference(conn, reference)
    if current is None:
        raise TopupNotFound
    if current.status is not TopupStatus.PENDING:
        raise TopupNotPending(current.status)
    _, topup = await _settle(ports, conn, reference, result, "ops")
    assert topup is not None, "a locked pending topup settles"
    return topup


async def apply_result(
    ports: TopupPorts, conn: Conn, reference: str, result: ProviderResult, source: Source
) -> Topup | None:
    """Apply what the provider said inside the caller's transaction; the topup as it is now."""
    if result.outcome in ("success", "failed"):
        _, topup = await _settle(ports, conn, reference, result, source)
        return topup
    return await repo.note_provider_answer(conn, reference, result.result_code, result.message)


async def settle(
    ports: TopupPorts, conn: Conn, reference: str, result: ProviderResult, source: Source
) -> Settled:
    """pending → completed, or pending → failed with the refund, exactly once.

    The status change is `UPDATE ... WHERE status = 'pending'`: of two concurrent deliveries,
    the second waits for the first's row lock, then finds nothing pending and moves no money.
    """
    settled, _ = await _settle(ports, conn, reference, result, source)
    return settled


async def _settle(
    ports: TopupPorts, conn: Conn, reference: str, result: ProviderResult, source: Source
) -> tuple[Settled, Topup | None]:
    """`settle`, plus the topup as it is afterwards (None for an unknown reference)."""
    if result.outcome == "success":
        topup = await repo.complete_pending(
            conn, reference, result.external_reference, result.result_code
        )
        wanted = TopupStatus.COMPLETED
    else:
        topup = await repo.fail_pending(
            conn,
            reference,
            result.external_reference,
            result.result_code,
            result.message or "the provider reported a failure",
        )
        wanted = TopupStatus.FAILED
        if topup is not None:
            await repo.credit_wallet(conn, topup.user_id, topup.amount)
            await repo.insert_refund(conn, topup, source, result.message)
            await _forget_derived_key(ports, conn, topup)
            ports.metrics.refunds.labels(source).inc()
    if topup is not None:  # complete_pending / fail_pending notified the change too
        ports.metrics.settlements.labels(source, wanted.value).inc()
        log.info(
            "topup_settled",
            topup_id=topup.id,
            reference=reference,
            status=wanted.value,
            source=source,
        )
        return "applied", topup
    current = await repo.get_by_reference(conn, reference)
    if current is None:
        return "unknown_reference", None
    if current.status is wanted:
        return "duplicate", current
    detail = {
        "recorded_status": current.status.value,
        "reported_status": wanted.value,
        "source": source,
        "result_code": result.result_code,
    }
    await open_topup_case(
        ports,
        conn,
        current,
        kind=CONTRADICTING_STATUSES,
        reason=f"recorded {current.status.value}, then {source} reported {wanted.value}",
        detail=detail,
    )
    log.warning("topup_contradicting_status", reference=reference, **detail)
    # flag_for_review changed the row (review_flag): read it as it is now.
    return "contradicting", await repo.get_by_reference(conn, reference)


async def handle_notification(ports: TopupPorts, note: SelcomNotification) -> Settled:
    """A verified provider notification: settle on a definitive status, note the rest."""
    order_id, payload = note.order_id, note.model_dump()
    outcome = outcome_for_status(note.status)
    result = ProviderResult(
        outcome, note.result_code or None, note.result_description or "", note.reference_id or None
    )
    async with ports.pool.acquire() as conn, conn.transaction():
        if outcome in ("success", "failed"):
            settled = await settle(ports, conn, order_id, result, "webhook")
        else:
            known = await repo.get_by_reference(conn, order_id)
            settled = "noted" if known is not None else "unknown_reference"
        if settled == "unknown_reference":
            await repo.flag_for_review(
                conn, reference=order_id, reason="unknown_reference", detail=payload
            )
            await open_case(
                conn,
                ports.operations,
                kind=UNKNOWN_REFERENCE,
                subject=order_id,
                reason=f"a signed {SELCOM} notification for a transid we never issued",
                refs={"reference": order_id, "transid": order_id, "provider": SELCOM},
                detail=payload,
            )
            log.warning("topup_webhook_unknown_reference", reference=order_id)
        await repo.record_webhook(conn, payload, settled)
    ports.metrics.webhooks.labels(settled).inc()
    return settled


async def handle_vtpass_notification(ports: TopupPorts, note: VtpassNotification) -> Settled:
    """VTpass's notification is not signed, so it never moves money by itself: it only makes us
    requery VTpass, and the requery's answer settles (verify before value). Kept with what the
    requery did; one naming no topup of ours is not kept (anyone can post it), only logged."""
    request_id = note.data.request_id
    async with ports.pool.acquire() as conn:
        topup = await repo.get_by_provider_reference(conn, "vtpass", request_id)
    if topup is None:
        log.warning("topup_vtpass_notification_unknown", request_id=request_id[:64])
        ports.metrics.webhooks.labels("unknown_reference").inc()
        return "unknown_reference"
    result = await ask_provider(ports, topup)
    async with ports.pool.acquire() as conn, conn.transaction():
        settled: Settled = "noted"
        if result.outcome in ("success", "failed"):
            settled = await settle(ports, conn, topup.reference, result, "query")
        said = note.data.content.transactions if note.data.content else None
        payload: dict[str, Any] = {
            "order_id": request_id,
            "status": (said.status if said and said.status else "unknown")[:32],
            "reference_id": said.transaction_id if said else None,
            "result_code": note.data.code,
            "notification": note.model_dump(mode="json", by_alias=True),
            "requery": {"outcome": result.outcome, "code": result.result_code},
        }
        await repo.record_webhook(conn, payload, settled, provider="vtpass")
    ports.metrics.webhooks.labels(settled).inc()
    return settled


async def keep_refused(ports: TopupPorts, refused: SignedPayloadRefused) -> None:
    """A notification Selcom signed but we could not read: kept raw, for a person."""
    async with ports.pool.acquire() as conn:
        first = await keep_refused_notification(conn, "topup", "selcom", refused)
    log.warning("topup_webhook_refused", reason=refused.reason, first_delivery=first)


async def get_topup(ports: TopupPorts, user_id: str, topup_id: str) -> Topup:
    async with ports.pool.acquire() as conn:
        topup = await repo.get_owned(conn, user_id, topup_id)
    if topup is None:
        raise TopupNotFound
    return topup


async def list_topups(
    ports: TopupPorts, user_id: str, limit: int, after: PageKey | None
) -> Slice[Topup, PageKey]:
    """One page, newest first, and the key to continue after."""
    async with ports.pool.acquire() as conn:
        rows = await repo.list_owned(conn, user_id, limit + 1, after)
    return slice_of(rows, limit, lambda t: (t.created_at, t.id))
