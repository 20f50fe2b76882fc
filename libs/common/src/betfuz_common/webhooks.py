"""The webhook gate: verify the signature over the exact raw body, then parse, in one call (in
the manner of Stripe's `construct_event`).

A bad or missing signature is a 401 and nothing is written. A body whose signature verified but
that we cannot accept raises `SignedPayloadRefused` carrying the raw bytes: the provider signed
a notification of money, so the service keeps it (held for review, with the reason) before it
answers the 4xx, and a signed notification never vanishes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from betfuz_common.db import Conn
from betfuz_common.errors import INVALID_SIGNATURE, Problem
from betfuz_common.parsing import json_object, validated
from betfuz_common.signatures import Algorithm, verify

M = TypeVar("M", bound=BaseModel)


class SignedPayloadRefused(Exception):
    """The signature is good, the content is not: keep `payload`, then answer `problem`."""

    def __init__(self, payload: bytes, problem: Problem) -> None:
        super().__init__(problem.detail or problem.title)
        self.payload = payload
        self.problem = problem

    @property
    def reason(self) -> str:
        details = "; ".join(f"{e.field}: {e.message}" for e in self.problem.errors)
        return details or (self.problem.detail or self.problem.title)


@dataclass(frozen=True)
class WebhookGate:
    header: str  # e.g. "X-Wema-Signature"
    secrets: Sequence[bytes]  # every active secret (rotation)
    algorithm: Algorithm

    def construct_event(self, payload: bytes, signature: str | None, model: type[M]) -> M:
        if not verify(payload, signature, self.secrets, self.algorithm):
            raise INVALID_SIGNATURE()
        try:
            return validated(model, json_object(payload))
        except Problem as problem:
            raise SignedPayloadRefused(payload, problem) from None


async def keep_refused(
    conn: Conn, schema: str, provider: str, refused: SignedPayloadRefused
) -> bool:
    """Keep a signed notification we refused, raw; True the first time, False on a redelivery."""
    digest = hashlib.sha256(refused.payload).hexdigest()
    first: bool = await conn.fetchval(
        f"""
        INSERT INTO {schema}.refused_notifications AS r (provider, payload, payload_sha256, reason)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (payload_sha256) DO UPDATE
           SET deliveries = r.deliveries + 1, last_seen_at = now()
        RETURNING (xmax = 0)
        """,  # noqa: S608 - the schema is ours, never user input
        provider,
        refused.payload,
        digest,
        refused.reason[:1000],
    )
    return first


async def receive(
    request: Request, model: type[M], *, keep: Callable[[SignedPayloadRefused], Awaitable[object]]
) -> M:
    """The route's whole webhook intake with the service's gate: verify, parse, and keep what
    was signed but refused (then answer its 4xx)."""
    gate: WebhookGate = request.app.state.webhook_gate
    try:
        return gate.construct_event(await request.body(), request.headers.get(gate.header), model)
    except SignedPayloadRefused as refused:
        await keep(refused)
        raise refused.problem from None
