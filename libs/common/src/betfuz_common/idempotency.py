"""Idempotency-Key store: replay the first response, 422 on a different body, 409 in flight."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from betfuz_common import jsonio
from betfuz_common.db import Conn
from betfuz_common.errors import Problem

RETENTION = timedelta(hours=24)
# A request that crashed mid-way releases its key after this long, so the client can retry;
# the money path below keeps its own unique constraint, so a retry can never double-apply.
IN_FLIGHT_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Replay:
    status: int
    body: bytes


@dataclass(frozen=True)
class Claim:
    """The caller owns the key. `resumed`: it took over the stale claim of a request that died
    mid-way, so that request's effects may already exist and the caller must look for them."""

    resumed: bool = False


def fingerprint(payload: object) -> str:
    """Hash of the canonical JSON of what the client asked for."""
    return hashlib.sha256(jsonio.dumps(payload)).hexdigest()


def in_flight() -> Problem:
    return Problem(
        409,
        "Request in progress",
        detail="a request with this Idempotency-Key is still being processed; retry shortly",
        code="idempotency_in_flight",
        headers={"Retry-After": "1"},
    )


def key_reused() -> Problem:
    return Problem(
        422,
        "Idempotency key reused",
        detail="this Idempotency-Key was used with a different request body",
        code="idempotency_key_reused",
    )


class IdempotencyStore:
    """Rows live in `<schema>.idempotency_keys`; every call runs on the caller's connection."""

    def __init__(self, schema: str) -> None:
        self._table = f"{schema}.idempotency_keys"

    async def begin(self, conn: Conn, scope: str, key: str, request_hash: str) -> Claim | Replay:
        """Claim: the caller owns the key now. Replay: answer with it. Raises 409/422 Problems."""
        claimed = await conn.fetchrow(
            f"""
            INSERT INTO {self._table} AS k (scope, key, request_hash, locked_until, expires_at)
            VALUES ($1, $2, $3, now() + $4::interval, now() + $5::interval)
            ON CONFLICT (scope, key) DO UPDATE
               SET request_hash = EXCLUDED.request_hash, state = 'in_flight',
                   response_status = NULL, response_body = NULL,
                   locked_until = EXCLUDED.locked_until, created_at = now(),
                   expires_at = EXCLUDED.expires_at
             WHERE k.expires_at < now()
                OR (k.state = 'in_flight' AND k.locked_until < now() AND k.request_hash = $3)
            RETURNING (k.xmax <> 0) AS resumed
            """,  # noqa: S608 - the table name is ours, never user input
            scope,
            key,
            request_hash,
            IN_FLIGHT_LEASE,
            RETENTION,
        )
        if claimed is not None:
            # A fresh insert has xmax 0; an update took over an expired or a stale claim.
            return Claim(resumed=bool(claimed["resumed"]))
        row = await conn.fetchrow(
            f"SELECT request_hash, state, response_status, response_body FROM {self._table} "  # noqa: S608
            "WHERE scope = $1 AND key = $2",
            scope,
            key,
        )
        if row is None:  # expired and purged between the two statements: try once more
            return await self.begin(conn, scope, key, request_hash)
        if row["request_hash"] != request_hash:
            raise key_reused()
        if row["state"] != "done":
            raise in_flight()
        return Replay(status=row["response_status"], body=bytes(row["response_body"]))

    async def finish(self, conn: Conn, scope: str, key: str, status: int, body: bytes) -> None:
        await conn.execute(
            f"UPDATE {self._table} SET state = 'done', response_status = $3, response_body = $4 "  # noqa: S608
            "WHERE scope = $1 AND key = $2",
            scope,
            key,
            status,
            body,
        )

    async def release(self, conn: Conn, scope: str, key: str) -> None:
        """Forget a key whose request had no effect, so the client may retry it at once."""
        await conn.execute(
            f"DELETE FROM {self._table} WHERE scope = $1 AND key = $2 AND state = 'in_flight'",  # noqa: S608
            scope,
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
