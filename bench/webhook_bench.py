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

ACCOUNTS = 1000
WEMA_KEY, WEMA_SECRET = "bench-wema-key", "bench-wema-secret"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"

# The webhook's one transaction (service._credit_once), statement for statement.
PGBENCH_SCRIPT = """
\\set a random(1, {accounts})
\\set n random(1, 9000000000000000000)
BEGIN;
SELECT id, user_id, status FROM treasury.bank_accounts
  WHERE account_number = lpad((9000000000 + :a)::text, 10, '0');
INSERT INTO treasury.bank_transactions
    (id, bank_account_id, user_id, type, amount, transaction_reference, sender_name,
     sender_account, sender_bank, narration, transaction_date)
  SELECT 'btx_pgb' || :n, 'acc_bench_' || :a, 'bench-' || :a, 'credit', 5000.50, 'PGB-' || :n,
         'MARY JANE', '9876543210', 'Access Bank', 'Deposit to Betfuz', now()
   WHERE NOT EXISTS (SELECT 1 FROM treasury.unmatched_deposits
                      WHERE transaction_reference = 'PGB-' || :n)
  ON CONFLICT (transaction_reference) DO NOTHING RETURNING true;
UPDATE treasury.bank_accounts SET balance = balance + 5000.50, updated_at = now()
  WHERE id = 'acc_bench_' || :a AND status = 'active' RETURNING balance;
UPDATE public.users SET balance = balance + 5000.50, updated_at = now()
  WHERE id = 'bench-' || :a RETURNING balance;
SELECT pg_notify('balance_changed', '{{"user_id":"bench-' || :a || '","amount":5000.50}}');
COMMIT;
"""


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
