"""Topup rules: debit and record in one transaction, call the provider after the commit, settle
each topup exactly once whichever of the process answer, the webhook or the status query says so.

Plain functions taking their ports; they return domain values and raise domain errors.
The refund rule lives in `settle`: only a definitive failure refunds, in the same transaction
as the status change and the refund row.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Literal

from betfuz_common.db import Conn
from betfuz_common.errors import WalletNotFound
from betfuz_common.idempotency import RETENTION, IdempotentRequest, Replay, fingerprint
from betfuz_common.logging import get_logger
from betfuz_common.pagination import Slice, slice_of
from betfuz_common.webhooks import SignedPayloadRefused
from betfuz_common.webhooks import keep_refused as keep_refused_notification
from topup import repository as repo
from topup.domain import Order, Purchase, Topup, TopupStatus
from topup.errors import InsufficientFunds, TopupNotFound
from topup.ports import ProcessOrder, ProviderResult, TopupPorts
from topup.provider import outcome_for_status
from topup.schemas import SelcomNotification

log = get_logger("topup")

Source = Literal["process", "webhook", "query"]
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
    parts = [user_id, canonical["phone"], canonical["carrier"], canonical["amount"]]
    digest = hashlib.sha256("|".join([*parts, canonical["type"]]).encode()).hexdigest()
    return DERIVED_PREFIX + digest


def idempotency_for(user_id: str, order: Order, client_key: str | None) -> IdempotentRequest:
    """Every purchase is idempotent: on the client's key, else on the spec's derived key."""
    key = client_key or derived_key(user_id, order)
    # The scope is the user alone, as it always was: keys stored by earlier releases still count.
    return IdempotentRequest(user_id, key, fingerprint(order.canonical()), client_key is None)


async def purchase(
    ports: TopupPorts, user_id: str, order: Order, idempotency: IdempotentRequest
) -> Purchase:
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
        topup = await repo.debit_and_insert_topup(
            conn,
            topup_id=new_topup_id(),
            user_id=user_id,
            order=order,
            reference=new_reference(),
            idempotency_key=idempotency.key,
            check_after_seconds=ports.check_after_seconds,
        )
        if topup is None:
            if not await repo.wallet_exists(conn, user_id):
                raise WalletNotFound(user_id)
            raise InsufficientFunds  # rolls back the key claim too: nothing is written
    result = await submit(ports, topup)
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


async def submit(ports: TopupPorts, topup: Topup) -> ProviderResult:
    """The order to the provider; the same transid every time, so it dedupes a repeat."""
    order = ProcessOrder(
        transid=topup.reference,
        carrier=topup.carrier.value,
        product_type=topup.type.value,
        phone=topup.phone,
        amount=topup.amount,
    )
    try:
        return await ports.provider.process(order)
    except Exception as exc:
        log.error("provider_process_crashed", reference=topup.reference, exc_info=exc)
        return ProviderResult("pending", None, "provider call raised")


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
    await repo.flag_for_review(
        conn, reference=reference, reason="contradicting_status", detail=detail, topup_id=current.id
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
            log.warning("topup_webhook_unknown_reference", reference=order_id)
        await repo.record_webhook(conn, payload, settled)
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
