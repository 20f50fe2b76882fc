"""Idempotency-Key (IETF draft semantics), one behaviour for every POST of every service.

- The first request with a key claims it, in the caller's transaction, and stores its result
  when it finishes; a replay gets that first result back (`Idempotent-Replayed: true`).
- The same key with a different body: 422. A replay while the first is still in flight: 409
  with Retry-After. A claim whose request died mid-way is taken over after a lease; the caller
  is told (`Claim.resumed`) so it can look for effects the dead request left.
- Keys are kept 24 h. What is stored is the domain result (a JSON document the service makes of
  its value), never HTTP bytes: the edge renders a replay exactly as it rendered the first.

The flow around the caller's own transaction is begin -> (replay | work -> finish | release).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
from starlette.requests import Request

from betfuz_common import jsonio
from betfuz_common.db import Conn
from betfuz_common.errors import (
    IDEMPOTENCY_IN_FLIGHT,
    IDEMPOTENCY_KEY_REUSED,
    FieldError,
    validation_problem,
)

RETENTION = timedelta(hours=24)
# A request that crashed mid-way releases its key after this long, so the client can retry;
# the money path keeps its own unique constraint, so a retry can never double-apply.
IN_FLIGHT_LEASE = timedelta(seconds=60)
HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
T = TypeVar("T")


@dataclass(frozen=True)
class IdempotentRequest:
    scope: str  # whose key: the operation and the caller
    key: str
    fingerprint: str  # hash of what the caller asked for
    derived: bool = False  # made by the service (no header), not chosen by the client


@dataclass(frozen=True)
class Replay:
    # None: the first request was finished by the previous release, which stored HTTP bytes
    # instead; the service finds the resource the key made instead (expand/contract).
    result: dict[str, Any] | None


@dataclass(frozen=True)
class Claim:
    """The caller owns the key. `resumed`: it took over the stale claim of a request that died
    mid-way, so that request's effects may already exist and the caller must look for them."""

    resumed: bool = False


def fingerprint(payload: object) -> str:
    """Hash of the canonical JSON of what the client asked for."""
    return hashlib.sha256(jsonio.dumps(payload)).hexdigest()


def header_key(request: Request) -> str | None:
    """The client's Idempotency-Key, if it sent one: 1-255 visible ASCII characters."""
    value = request.headers.get(HEADER)
    if value is not None and not _KEY.fullmatch(value):
        raise validation_problem([FieldError(HEADER, "must be 1-255 visible ASCII characters")])
    return value


SCOPE_COLUMN_CHARS = 128


def stored_scope(scope: str) -> str:
    """The scope as the 128-character column holds it: a long one (an operation name beside a
    128-character token subject) by its hash, which is just as unique."""
    if len(scope) <= SCOPE_COLUMN_CHARS:
        return scope
    return "sha256:" + hashlib.sha256(scope.encode()).hexdigest()


class IdempotencyStore:
    """Rows live in `<schema>.idempotency_keys`; every call runs on the caller's connection."""

    def __init__(self, schema: str) -> None:
        self._table = f"{schema}.idempotency_keys"

    async def begin(self, conn: Conn, request: IdempotentRequest) -> Claim | Replay:
        """Claim: the caller owns the key now. Replay: answer with it. Raises 409/422 Problems."""
        claimed = await conn.fetchrow(
            f"""
            INSERT INTO {self._table} AS k (scope, key, request_hash, locked_until, expires_at)
            VALUES ($1, $2, $3, now() + $4::interval, now() + $5::interval)
            ON CONFLICT (scope, key) DO UPDATE
               SET request_hash = EXCLUDED.request_hash, state = 'in_flight',
                   response_status = NULL, response_body = NULL, result = NULL,
                   locked_until = EXCLUDED.locked_until, created_at = now(),
                   expires_at = EXCLUDED.expires_at
             WHERE k.expires_at < now()
                OR (k.state = 'in_flight' AND k.locked_until < now() AND k.request_hash = $3)
            RETURNING (k.xmax <> 0) AS resumed
            """,  # noqa: S608 - the table name is ours, never user input
            stored_scope(request.scope),
            request.key,
            request.fingerprint,
            IN_FLIGHT_LEASE,
            RETENTION,
        )
        if claimed is not None:
            # A fresh insert has xmax 0; an update took over an expired or a stale claim.
            return Claim(resumed=bool(claimed["resumed"]))
        row = await conn.fetchrow(
            f"SELECT request_hash, state, result FROM {self._table} "  # noqa: S608
            "WHERE scope = $1 AND key = $2",
            stored_scope(request.scope),
            request.key,
        )
        if row is None:  # expired and purged between the two statements: try once more
            return await self.begin(conn, request)
        if row["request_hash"] != request.fingerprint:
            raise IDEMPOTENCY_KEY_REUSED()
        if row["state"] != "done":
            raise IDEMPOTENCY_IN_FLIGHT()
        return Replay(None if row["result"] is None else dict(row["result"]))

    async def finish(
        self, conn: Conn, request: IdempotentRequest, result: Mapping[str, Any]
    ) -> None:
        await conn.execute(
            f"UPDATE {self._table} SET state = 'done', result = $3 "  # noqa: S608
            "WHERE scope = $1 AND key = $2",
            stored_scope(request.scope),
            request.key,
            dict(result),
        )

    async def release(self, conn: Conn, request: IdempotentRequest) -> None:
        """Forget a key whose request had no effect, so the client may retry it at once."""
        await conn.execute(
            f"DELETE FROM {self._table} WHERE scope = $1 AND key = $2 AND state = 'in_flight'",  # noqa: S608
            stored_scope(request.scope),
            request.key,
        )

    async def forget(self, conn: Conn, scope: str, key: str) -> None:
        """Drop a finished key, so the same request may be made again (a derived key whose
        purchase failed: the customer must be able to try again at once)."""
        await conn.execute(
            f"DELETE FROM {self._table} WHERE scope = $1 AND key = $2",  # noqa: S608
            stored_scope(scope),
            key,
        )

    async def purge_expired(self, conn: Conn, limit: int = 10_000) -> int:
        deleted = await conn.fetchval(
            f"""
            WITH gone AS (
              DELETE FROM {self._table} WHERE ctid IN (
                SELECT ctid FROM {self._table} WHERE expires_at < now() LIMIT $1)
              RETURNING 1)
            SELECT count(*) FROM gone
            """,  # noqa: S608
            limit,
        )
        return int(deleted)


async def run_once(
    store: IdempotencyStore,
    pool: asyncpg.Pool,
    request: IdempotentRequest | None,
    work: Callable[[], Awaitable[T]],
    *,
    save: Callable[[T], Mapping[str, Any]],
    load: Callable[[dict[str, Any] | None], Awaitable[T]],
) -> tuple[T, bool]:
    """The whole flow for work that runs in transactions of its own (and is safe to redo after
    a crash): (the value, whether it is a replay). Without a key the work simply runs."""
    if request is None:
        return await work(), False
    async with pool.acquire() as conn:
        begun = await store.begin(conn, request)
    if isinstance(begun, Replay):
        return await load(begun.result), True
    try:
        value = await work()
    except BaseException:
        # A refusal or a failure changed nothing the key protects: the client may retry now.
        async with pool.acquire() as conn:
            await store.release(conn, request)
        raise
    async with pool.acquire() as conn:
        await store.finish(conn, request, save(value))
    return value, False
