"""POST /topup against pgbench running the same SQL the endpoint commits."""

from __future__ import annotations

import asyncio
import random
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness import endpoint_load, execute, http_section, pgbench
from betfuz_common.auth import issue_token
from betfuz_testing.processes import free_port, running
from topup.repository import COLUMNS, SETTLED_AND_NOTIFIED

USERS = 1000
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"
SELCOM_KEY, SELCOM_SECRET = "bench-selcom-key", "bench-selcom-secret"

# The endpoint's two transactions (service.purchase), statement for statement, so pgbench
# measures what the database alone can do for one purchase: the ceiling. Keep in step with
# betfuz_common.idempotency (begin, finish) and topup.repository (debit_and_insert_topup,
# complete_pending, whose statement also sends the status notification); the RETURNING lists
# are the ones the code reads.
PGBENCH_SCRIPT = """
\\set uid random(1, {users})
\\set n random(1, 9000000000000000000)
BEGIN;
INSERT INTO topup.idempotency_keys AS k (scope, key, request_hash, locked_until, expires_at)
  VALUES ('bench-' || :uid, 'pgb-' || :n, repeat('a', 64), now() + interval '60 seconds',
          now() + interval '24 hours')
  ON CONFLICT (scope, key) DO UPDATE
     SET request_hash = EXCLUDED.request_hash, state = 'in_flight',
         response_status = NULL, response_body = NULL,
         locked_until = EXCLUDED.locked_until, created_at = now(),
         expires_at = EXCLUDED.expires_at
   WHERE k.expires_at < now()
      OR (k.state = 'in_flight' AND k.locked_until < now() AND k.request_hash = repeat('a', 64))
  RETURNING (k.xmax <> 0) AS resumed;
WITH debit AS (
    UPDATE public.users SET balance = balance - 100, updated_at = now()
     WHERE id = 'bench-' || :uid AND balance >= 100
    RETURNING id
)
INSERT INTO topup.topup_transactions
    (id, user_id, phone, carrier, amount, type, reference, idempotency_key, next_check_at)
SELECT 'top_pgb' || :n, debit.id, '+2348030000001', 'mtn', 100, 'airtime', 'TOPPGB' || :n,
       'pgb-' || :n, now() + make_interval(secs => 180)
  FROM debit
RETURNING {columns};
COMMIT;
BEGIN;
WITH settled AS (
UPDATE topup.topup_transactions
   SET status = 'completed', completed_at = now(), updated_at = now(),
       submitted_at = COALESCE(submitted_at, now()),
       external_reference = COALESCE('SELCOM-' || :n, external_reference),
       result_code = COALESCE('000', result_code)
 WHERE reference = 'TOPPGB' || :n AND status = 'pending'
RETURNING {columns}
)
{notified};
UPDATE topup.idempotency_keys SET state = 'done', response_status = 201,
       response_body = convert_to(repeat('x', 400), 'UTF8')
 WHERE scope = 'bench-' || :uid AND key = 'pgb-' || :n;
COMMIT;
"""


def purchases(count: int) -> list[dict[str, Any]]:
    tokens = [issue_token(JWT_SECRET, f"bench-{i}", ttl_seconds=3600) for i in range(1, USERS + 1)]
    items = []
    for _ in range(count):
        token = random.choice(tokens)
        body = '{"phone":"+2348030000001","carrier":"mtn","amount":100,"type":"airtime"}'
        items.append(
            {
                "method": "POST",
                "path": "/topup",
                "headers": {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex,
                },
                "body": body,
            }
        )
    return items


async def seed_users(database_url: str) -> None:
    await execute(
        database_url,
        "INSERT INTO public.users (id, balance) SELECT 'bench-' || g, 1000000000 "
        "FROM generate_series(1, $1) g ON CONFLICT (id) DO UPDATE SET balance = 1000000000",
        USERS,
    )


def run(database_url: str, *, seconds: int, connections: int, logs: Path) -> dict[str, Any]:
    def ceiling(notified: str = SETTLED_AND_NOTIFIED.strip()) -> dict[str, Any]:
        return pgbench(
            database_url,
            PGBENCH_SCRIPT.format(users=USERS, columns=COLUMNS, notified=notified),
            clients=connections,
            seconds=seconds,
        )

    asyncio.run(seed_users(database_url))
    before = ceiling()
    api_port, sandbox_port = free_port(), free_port()
    common = {"SELCOM_API_KEY": SELCOM_KEY, "SELCOM_API_SECRET": SELCOM_SECRET}
    with ExitStack() as stack:
        stack.enter_context(
            running(
                "sandboxes.selcom",
                env={
                    **common,
                    "SANDBOX_SELCOM_FAST": "1",
                    "API_BASE_URL": f"http://127.0.0.1:{api_port}",
                },
                port=sandbox_port,
                log_path=logs / "bench-selcom.log",
            )
        )
        api = stack.enter_context(
            running(
                "topup",
                env={
                    **common,
                    "APP_ENV": "test",
                    "DATABASE_URL": database_url,
                    "JWT_SECRET": JWT_SECRET,
                    "SELCOM_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
                    "API_BASE_URL": f"http://127.0.0.1:{api_port}",
                    "TOPUP_RECONCILE_INTERVAL_SECONDS": "0",
                    "TOPUP_MAX_AMOUNT": "1000000",
                    "WEB_CONCURRENCY": "2",  # one worker per core of this 2-core machine
                },
                port=api_port,
                log_path=logs / "bench-topup.log",
            )
        )
        sustained, paced = endpoint_load(
            api, purchases, seconds=seconds, connections=connections, per_second_cap=3000
        )
    after = ceiling()
    # The script before the settling UPDATE carried the notification: the same SQL less the
    # pg_notify (whose commit-time lock serialises notifying transactions), for comparison
    # with the figures measured against it.
    unnotified = ceiling(notified="SELECT * FROM settled")
    section = http_section(
        "POST /topup", sustained, paced, [before, after], {"ratio": 0.30, "p99_ms_at_half_rate": 50}
    )
    section["pgbench_without_notification"] = unnotified
    section["ratio_without_notification"] = round(sustained["rps"] / unnotified["tps"], 3)
    return section
