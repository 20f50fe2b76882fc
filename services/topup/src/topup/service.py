"""Topup rules: debit and record in one transaction, call Selcom after the commit, settle each
topup exactly once whichever of the process answer, the webhook or the status query says so."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import asyncpg

from betfuz_common import jsonio
from betfuz_common.db import Conn
from betfuz_common.idempotency import RETENTION, IdempotencyStore, Replay, fingerprint
from betfuz_common.logging import get_logger
from topup import repository as repo
from topup.errors import InsufficientFunds, TopupNotFound
from topup.metrics import TopupMetrics
from topup.provider import ProcessOrder, ProviderResult, outcome_for_status
from topup.schemas import Row, TopupRequest, topup_response

log = get_logger("topup")

Source = Literal["process", "webhook", "query"]
Settled = Literal["applied", "duplicate", "contradicting", "unknown_reference", "noted"]
CREATED = 201


class Provider(Protocol):
    async def process(self, order: ProcessOrder) -> ProviderResult: ...

    async def query(self, transid: str) -> ProviderResult: ...


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    replayed: bool = False


def new_topup_id() -> str:
    return "top_" + secrets.token_hex(12)


def new_reference() -> str:
    # Selcom's transid: short, alphanumeric, unguessable.
    return "TOP" + secrets.token_hex(8).upper()


def derived_key(user_id: str, request: TopupRequest) -> str:
    """The spec's key when the client sends none: hash of user+phone+carrier+amount+type."""
    canonical = request.canonical()
    parts = [user_id, canonical["phone"], canonical["carrier"], canonical["amount"]]
    digest = hashlib.sha256("|".join([*parts, canonical["type"]]).encode()).hexdigest()
    return "derived:" + digest


@dataclass
class TopupService:
    pool: asyncpg.Pool
    provider: Provider
    metrics: TopupMetrics
    check_after_seconds: float = 180.0
    store: IdempotencyStore = field(default_factory=lambda: IdempotencyStore("topup"))

    async def purchase(
        self, user_id: str, request: TopupRequest, idempotency_key: str | None
    ) -> Reply:
        key = idempotency_key or derived_key(user_id, request)
        request_hash = fingerprint(request.canonical())
        async with self.pool.acquire() as conn, conn.transaction():
            claim = await self.store.begin(conn, user_id, key, request_hash)
            if isinstance(claim, Replay):
                return Reply(claim.status, claim.body, replayed=True)
            if claim.resumed:
                # A crash left the key in flight past its lease: the debit may be done already.
                earlier = await repo.find_recent_by_idempotency_key(
                    conn, user_id, key, RETENTION.total_seconds()
                )
                if earlier is not None:
                    return await self._answer(conn, user_id, key, earlier, replayed=True)
            row = await repo.debit_and_insert_topup(
                conn,
                topup_id=new_topup_id(),
                user_id=user_id,
                phone=request.phone,
                carrier=request.carrier,
                amount=request.amount,
                product_type=request.product_type,
                reference=new_reference(),
                idempotency_key=key,
                check_after_seconds=self.check_after_seconds,
            )
            if row is None:
                raise InsufficientFunds  # rolls back the key claim too: nothing is written
        log.info("topup_created", topup_id=row["id"], reference=row["reference"])
        result = await self._submit(row)
        async with self.pool.acquire() as conn, conn.transaction():
            current = await self.apply_result(conn, row["reference"], result, "process")
            reply = await self._answer(conn, user_id, key, current or row, replayed=False)
        self.metrics.purchases.labels((current or row)["status"]).inc()
        return reply

    async def resubmit(self, row: Row) -> ProviderResult:
        """The same order again, same transid: Selcom dedupes on it."""
        return await self._submit(row)

    async def _submit(self, row: Row) -> ProviderResult:
        order = ProcessOrder(
            transid=row["reference"],
            carrier=row["carrier"],
            product_type=row["type"],
            phone=row["phone"],
            amount=row["amount"],
        )
        try:
            return await self.provider.process(order)
        except Exception as exc:
            log.error("selcom_process_crashed", reference=row["reference"], exc_info=exc)
            return ProviderResult("pending", None, "provider call raised")

    async def _answer(
        self, conn: Conn, user_id: str, key: str, row: Row, *, replayed: bool
    ) -> Reply:
        body = jsonio.dumps(topup_response(row))
        await self.store.finish(conn, user_id, key, CREATED, body)
        return Reply(CREATED, body, replayed=replayed)

    async def apply_result(
        self, conn: Conn, reference: str, result: ProviderResult, source: Source
    ) -> asyncpg.Record | None:
        """Apply what Selcom said inside the caller's transaction; returns the row as it is now."""
        if result.outcome in ("success", "failed"):
            _, row = await self._settle(conn, reference, result, source)
            return row
        return await repo.note_provider_answer(conn, reference, result.result_code, result.message)

    async def settle(
        self, conn: Conn, reference: str, result: ProviderResult, source: Source
    ) -> Settled:
        """pending → completed, or pending → failed with the refund, exactly once.

        The status change is `UPDATE ... WHERE status = 'pending'`: of two concurrent deliveries,
        the second waits for the first's row lock, then finds nothing pending and moves no money.
        """
        settled, _ = await self._settle(conn, reference, result, source)
        return settled

    async def _settle(
        self, conn: Conn, reference: str, result: ProviderResult, source: Source
    ) -> tuple[Settled, asyncpg.Record | None]:
        """`settle`, plus the row as it is afterwards (None for an unknown reference): the
        UPDATE's RETURNING when it applied, else the row it read to tell what happened."""
        if result.outcome == "success":
            row = await repo.complete_pending(
                conn, reference, result.external_reference, result.result_code
            )
            wanted = "completed"
        else:
            row = await repo.fail_pending(
                conn,
                reference,
                result.external_reference,
                result.result_code,
                result.message or "Selcom reported a failure",
            )
            wanted = "failed"
            if row is not None:
                await repo.credit_wallet(conn, row["user_id"], row["amount"])
                await repo.insert_refund(conn, row, source, result.message)
                self.metrics.refunds.labels(source).inc()
        if row is not None:
            self.metrics.settlements.labels(source, wanted).inc()
            log.info("topup_settled", reference=reference, status=wanted, source=source)
            return "applied", row
        current = await repo.get_by_reference(conn, reference)
        if current is None:
            return "unknown_reference", None
        if current["status"] == wanted:
            return "duplicate", current
        detail = {
            "recorded_status": current["status"],
            "reported_status": wanted,
            "source": source,
            "result_code": result.result_code,
        }
        await repo.flag_for_review(
            conn,
            reference=reference,
            reason="contradicting_status",
            detail=detail,
            topup_id=current["id"],
        )
        log.warning("topup_contradicting_status", reference=reference, **detail)
        # flag_for_review changed the row (review_flag, metadata): read it as it is now.
        return "contradicting", await repo.get_by_reference(conn, reference)

    async def handle_webhook(self, payload: Mapping[str, Any]) -> Settled:
        reference = str(payload["order_id"])
        outcome = outcome_for_status(str(payload["status"]))
        result = ProviderResult(
            outcome,
            payload.get("result_code"),
            str(payload.get("result_description") or ""),
            payload.get("reference_id"),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            if outcome in ("success", "failed"):
                settled = await self.settle(conn, reference, result, "webhook")
            else:
                known = await repo.get_by_reference(conn, reference)
                settled = "noted" if known is not None else "unknown_reference"
            if settled == "unknown_reference":
                await repo.flag_for_review(
                    conn, reference=reference, reason="unknown_reference", detail=dict(payload)
                )
                log.warning("topup_webhook_unknown_reference", reference=reference)
            await repo.record_webhook(conn, payload, settled)
        self.metrics.webhooks.labels(settled).inc()
        return settled

    async def get(self, user_id: str, topup_id: str) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await repo.get_owned(conn, user_id, topup_id)
        if row is None:
            raise TopupNotFound
        return row

    async def page(
        self, user_id: str, limit: int, after_id: str | None
    ) -> tuple[list[asyncpg.Record], str | None]:
        """One page and the cursor of the next (None on the last page)."""
        async with self.pool.acquire() as conn:
            rows = await repo.list_owned(conn, user_id, limit + 1, after_id)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1]["id"] if more else None)
