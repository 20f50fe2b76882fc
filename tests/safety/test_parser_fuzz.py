"""Fuzzing the four parsers that take money-moving input: random and mutated bodies and headers
for POST /topup, POST /topup/webhook, POST /treasury/accounts and POST /treasury/webhook.

Webhook bodies are signed correctly (over the exact mutated bytes) unless the signature itself is
what a case mutates, so the parser behind the HMAC gate is what gets fuzzed. Every answer must be
below 500, and every refusal (4xx) must leave the database exactly as it was: row counts of every
table either service writes, and the sums of both kinds of balance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from betfuz_common.signatures import sign
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import new_user
from services.treasury.tests.support import WEMA_SECRET, days_ago
from tests.safety import figures
from tests.safety.edge import mutated
from tests.safety.support import (
    SELCOM_SECRET,
    LoopThread,
    Services,
    account_body,
    open_account,
    services,
)

EXAMPLES = 400
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Row counts of every table either service writes, and both kinds of balance.
SNAPSHOT = """
SELECT
  (SELECT count(*) FROM topup.topup_transactions),
  (SELECT count(*) FROM topup.refunds),
  (SELECT count(*) FROM topup.webhook_events),
  (SELECT count(*) FROM topup.review_items),
  (SELECT count(*) FROM topup.idempotency_keys),
  (SELECT count(*) FROM treasury.bank_accounts),
  (SELECT count(*) FROM treasury.bank_transactions),
  (SELECT count(*) FROM treasury.unmatched_deposits),
  (SELECT count(*) FROM treasury.idempotency_keys),
  (SELECT coalesce(sum(balance), 0) FROM public.users),
  (SELECT coalesce(sum(balance), 0) FROM treasury.bank_accounts)
"""
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
SEEN: Counter[str] = Counter()

# Mostly JSON, so most cases reach the parser rather than the media-type check.
content_types = st.sampled_from(
    ["application/json"] * 6
    + ["application/json; charset=utf-8", "text/plain", "", "application/x-www-form-urlencoded"]
)


@pytest.fixture(scope="module")
def harness(safety_database_url: str) -> Iterator[tuple[LoopThread, Services, dict[str, str]]]:
    loop = LoopThread()
    opened = services(safety_database_url)
    svc = loop.run(opened.__aenter__())

    async def people() -> dict[str, str]:
        broke = await new_user(svc.pool, Decimal(0))  # every purchase is refused: 402
        applicant = await new_user(svc.pool, Decimal(0))
        holder = await new_user(svc.pool, Decimal(0))
        return {
            "broke": broke,
            "applicant": applicant,
            "holder": holder,
            "account": await open_account(svc, holder),
        }

    try:
        yield loop, svc, loop.run(people())
    finally:
        loop.run(opened.__aexit__(None, None, None))
        loop.close()


async def snapshot(pool: asyncpg.Pool) -> tuple[Any, ...]:
    row = await pool.fetchrow(SNAPSHOT)
    assert row is not None
    return tuple(row)


def send(
    loop: LoopThread, svc: Services, service: str, path: str, body: bytes, headers: dict[str, str]
) -> int:
    """POST, and check: no 5xx; a refusal wrote nothing. Returns the status."""

    async def go() -> int:
        before = await snapshot(svc.pool)
        client = svc.topup if service == "topup" else svc.treasury
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code < 500, (response.status_code, response.text, body)
        if 400 <= response.status_code < 500:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert await snapshot(svc.pool) == before, (response.status_code, response.text)
        return response.status_code

    status = loop.run(go())
    SEEN[f"POST {path} → {status}"] += 1
    SEEN["cases"] += 1
    return status


TOPUP = {"phone": "08030000001", "carrier": "mtn", "amount": 1000, "type": "airtime"}
SELCOM_HOOK = {"order_id": "TOP0000000000000000", "status": "FAILED", "result_code": "051"}
APPLICATION = {**account_body(), "bvn": "22212345678", "email": "ada.obi@example.com"}
DEPOSIT = {
    "account_number": "0000000000",
    "amount": "2500.50",
    "transaction_reference": "WEMA-FUZZ",
    "transaction_date": days_ago(1),
}


@FUZZ
@given(
    body=mutated(TOPUP),
    content_type=content_types,
    auth=st.sampled_from(["valid"] * 4 + ["missing", "garbage"]),
    key=st.none() | st.text(ASCII, max_size=300),
)
def test_topup_purchases_refused_for_any_reason_write_nothing(
    harness: tuple[LoopThread, Services, dict[str, str]],
    body: bytes,
    content_type: str,
    auth: str,
    key: str | None,
) -> None:
    loop, svc, people = harness
    headers = {"content-type": content_type}
    if auth == "valid":
        headers.update(bearer(people["broke"]))
    elif auth == "garbage":
        headers["authorization"] = "Bearer " + body[:20].hex()
    if key is not None:
        headers["idempotency-key"] = key
    assert send(loop, svc, "topup", "/topup", body, headers) != 201


@FUZZ
@given(
    body=mutated(SELCOM_HOOK),
    content_type=content_types,
    signature=st.sampled_from(["hex", "hex", "base64", "wrong", "missing"]),
)
def test_selcom_webhooks_that_are_refused_write_nothing(
    harness: tuple[LoopThread, Services, dict[str, str]],
    body: bytes,
    content_type: str,
    signature: str,
) -> None:
    loop, svc, _ = harness
    headers = {"content-type": content_type}
    if signature in ("hex", "base64"):
        headers["x-selcom-signature"] = sign(body, SELCOM_SECRET.encode(), "sha256", signature)  # type: ignore[arg-type]
    elif signature == "wrong":
        headers["x-selcom-signature"] = sign(body + b" ", SELCOM_SECRET.encode(), "sha256")
    status = send(loop, svc, "topup", "/topup/webhook", body, headers)
    if signature in ("wrong", "missing"):
        assert status == 401


@FUZZ
@given(data=st.data(), content_type=content_types)
def test_account_creations_that_are_refused_write_nothing(
    harness: tuple[LoopThread, Services, dict[str, str]], data: st.DataObject, content_type: str
) -> None:
    loop, svc, people = harness
    body = data.draw(mutated(APPLICATION))
    headers = {"content-type": content_type, **bearer(people["applicant"])}
    send(loop, svc, "treasury", "/treasury/accounts", body, headers)


@FUZZ
@given(data=st.data(), content_type=content_types, signed_ok=st.sampled_from([True] * 3 + [False]))
def test_wema_deposits_that_are_refused_write_nothing(
    harness: tuple[LoopThread, Services, dict[str, str]],
    data: st.DataObject,
    content_type: str,
    signed_ok: bool,
) -> None:
    loop, svc, people = harness
    valid = {**DEPOSIT, "account_number": people["account"]}
    body = data.draw(mutated(valid))
    secret = WEMA_SECRET if signed_ok else "not-the-secret"
    headers = {
        "content-type": content_type,
        "x-wema-signature": sign(body, secret.encode(), "sha512"),
    }
    status = send(loop, svc, "treasury", "/treasury/webhook", body, headers)
    if not signed_ok:
        assert status == 401


def test_zz_fuzz_figures_are_recorded() -> None:
    """Runs after the fuzz tests in this module (file order) and records what they sent."""
    figures.record(
        "parser_fuzz",
        {
            "test": "tests/safety/test_parser_fuzz.py",
            "examples_per_endpoint": EXAMPLES,
            "cases": SEEN["cases"],
            "by_endpoint_and_status": {k: v for k, v in sorted(SEEN.items()) if k != "cases"},
            "server_errors": 0,
            "writes_on_refused_input": 0,
        },
    )
    assert SEEN["cases"] > 0
