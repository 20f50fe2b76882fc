"""POST /treasury/webhook (new signed deposits) against pgbench running the same SQL."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.harness import endpoint_load, execute, http_section, pgbench
from betfuz_common.signatures import sign
from betfuz_common.timestamps import rfc3339, utc_now
from betfuz_testing.processes import running
from treasury.repository import DEPOSIT_CREDIT, DEPOSIT_LOCK_SPACE, DEPOSIT_LOOKUP

ACCOUNTS = 1000
WEMA_KEY, WEMA_SECRET = "bench-wema-key", "bench-wema-secret"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"


def _bound(sql: str, *values: str) -> str:
    """A repository statement with its $n parameters replaced by pgbench expressions (highest
    first, so $1 never eats the start of $10)."""
    for number in range(len(values), 0, -1):
        sql = sql.replace(f"${number}", f"({values[number - 1]})")
    return sql.strip()


REFERENCE = "'PGB-' || :n"
ACCOUNT_NUMBER = "lpad((9000000000 + :a)::text, 10, '0')"

# The webhook's one transaction (service.settle_deposit), statement for statement and in the
# repository's own words: BEGIN, the reference's lock, the look-up, the credit, COMMIT. The
# service sends BEGIN and the lock in one message; pgbench's prepared mode cannot send two
# statements in one, so here they are two round trips of the ceiling's five. (The
# statements hold no braces, so `{accounts}` is the one thing `format` fills.)
PGBENCH_SCRIPT = "\n".join(
    [
        "\\set a random(1, {accounts})",
        "\\set n random(1, 9000000000000000000)",
        "BEGIN;",
        f"SELECT pg_advisory_xact_lock({DEPOSIT_LOCK_SPACE}, hashtext({REFERENCE}));",
        _bound(DEPOSIT_LOOKUP, REFERENCE, ACCOUNT_NUMBER) + ";",
        _bound(
            DEPOSIT_CREDIT,
            "'btx_pgb' || :n",
            "'acc_bench_' || :a",
            "'bench-' || :a",
            "5000.50",
            REFERENCE,
            "'MARY JANE'",
            "'9876543210'",
            "'Access Bank'",
            "'Deposit to Betfuz'",
            "now()",
            "'webhook'",
        )
        + ";",
        "COMMIT;",
    ]
)


async def seed_accounts(database_url: str) -> None:
    await execute(
        database_url,
        "INSERT INTO public.users (id, balance) SELECT 'bench-' || g, 0 "
        "FROM generate_series(1, $1) g ON CONFLICT (id) DO NOTHING",
        ACCOUNTS,
    )
    await execute(
        database_url,
        """
        INSERT INTO treasury.bank_accounts
            (id, user_id, account_number, account_name, balance, status, reference,
             bvn_encrypted, bvn_hash)
        SELECT 'acc_bench_' || g, 'bench-' || g, lpad((9000000000 + g)::text, 10, '0'),
               'BENCH USER ' || g, 0, 'active', 'ref-bench-' || g,
               decode('00', 'hex'), sha256(('bench-bvn-' || g)::bytea)
          FROM generate_series(1, $1) g
        ON CONFLICT (user_id) DO NOTHING
        """,
        ACCOUNTS,
    )


def deposits(count: int) -> list[dict[str, Any]]:
    # Recent, as a bank sends it: the service refuses dates outside a window around now.
    paid_at = rfc3339(utc_now() - timedelta(hours=1))
    items = []
    for _ in range(count):
        account = random.randint(1, ACCOUNTS)
        body = json.dumps(
            {
                "account_number": str(9_000_000_000 + account).zfill(10),
                "amount": 5000.50,
                "transaction_reference": f"WEMA-BENCH-{uuid.uuid4().hex}",
                "sender_name": "MARY JANE",
                "sender_account": "9876543210",
                "sender_bank": "Access Bank",
                "narration": "Deposit to Betfuz",
                "transaction_date": paid_at,
            }
        )
        signature = sign(body.encode(), WEMA_SECRET.encode(), "sha512")
        items.append(
            {
                "method": "POST",
                "path": "/treasury/webhook",
                "headers": {"Content-Type": "application/json", "X-Wema-Signature": signature},
                "body": body,
            }
        )
    return items


def run(database_url: str, *, seconds: int, connections: int, logs: Path) -> dict[str, Any]:
    def ceiling() -> dict[str, Any]:
        return pgbench(
            database_url,
            PGBENCH_SCRIPT.format(accounts=ACCOUNTS),
            clients=connections,
            seconds=seconds,
        )

    asyncio.run(seed_accounts(database_url))
    before = ceiling()
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "WEMA_API_KEY": WEMA_KEY,
        "WEMA_SECRET_KEY": WEMA_SECRET,
        "WEMA_BASE_URL": "http://127.0.0.1:9",  # never called: deposits need no Wema call
        "BVN_ENCRYPTION_KEY": "bench-bvn-key-0123456789abcdef",
        "WEB_CONCURRENCY": "2",  # one worker per core of this 2-core machine
    }
    with running("treasury", env=env, log_path=logs / "bench-treasury.log") as api:
        sustained, paced = endpoint_load(
            api, deposits, seconds=seconds, connections=connections, per_second_cap=4000
        )
    after = ceiling()
    return http_section(
        "POST /treasury/webhook",
        sustained,
        paced,
        [before, after],
        {"ratio": 0.5, "p99_ms_at_half_rate": 50},
    )
