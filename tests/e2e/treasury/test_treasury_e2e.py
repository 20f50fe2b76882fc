"""End to end over real HTTP: the service and the Wema sandbox as processes, real PostgreSQL."""

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_common import jsonio
from betfuz_testing.tokens import bearer
from services.treasury.tests.support import account_body, random_bvn, signed
from tests.e2e.treasury.conftest import Stack
from treasury.nuban import is_valid_nuban

pytestmark = pytest.mark.e2e


async def new_user(pool: asyncpg.Pool) -> str:
    user_id = f"e2e-{uuid.uuid4().hex}"
    await pool.execute("INSERT INTO public.users (id) VALUES ($1)", user_id)
    return user_id


async def open_account(
    api: httpx.AsyncClient, stack: Stack, user_id: str, **changes: str
) -> dict[str, Any]:
    bvn = random_bvn()
    stack.bvns_used.append(bvn)
    answer = await api.post(
        "/treasury/accounts", json=account_body(bvn, **changes), headers=bearer(user_id)
    )
    assert answer.status_code == 201, answer.text
    account: dict[str, Any] = answer.json()
    return account


async def sandbox_deposit(wema: httpx.AsyncClient, **order: Any) -> dict[str, Any]:
    answer = await wema.post(
        "/_sandbox/deposits",
        content=jsonio.dumps(order),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = jsonio.loads(answer.content)
    return result


async def user_balance(pool: asyncpg.Pool, user_id: str) -> Decimal:
    balance: Decimal = await pool.fetchval(
        "SELECT balance FROM public.users WHERE id = $1", user_id
    )
    return balance


async def test_create_read_deposit_and_see_both_balances(
    api: httpx.AsyncClient, wema: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool
) -> None:
    user = await new_user(pool)
    account = await open_account(api, stack, user)
    assert is_valid_nuban(account["accountNumber"])
    me = await api.get("/treasury/accounts/me", headers=bearer(user))
    assert me.json() == account

    result = await sandbox_deposit(wema, account_number=account["accountNumber"], amount="50000.50")
    assert result["outcomes"] == {"credited": 1}

    me = await api.get("/treasury/accounts/me", headers=bearer(user))
    assert b'"balance":50000.50' in me.content
    assert await user_balance(pool, user) == Decimal("50000.50")
    history = await api.get("/treasury/accounts/me/transactions", headers=bearer(user))
    (item,) = history.json()["items"]
    assert item["transactionReference"] == result["references"][0]


async def test_a_thousand_concurrent_deliveries_of_one_deposit_credit_exactly_once(
    api: httpx.AsyncClient, wema: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool
) -> None:
    user = await new_user(pool)
    account = await open_account(api, stack, user)
    result = await sandbox_deposit(
        wema,
        account_number=account["accountNumber"],
        amount="2500.75",
        duplicates=1000,
        concurrency=1000,
    )
    assert result["deliveries"] == 1000
    assert result["statuses"] == {"200": 1000}
    assert result["outcomes"] == {"credited": 1, "duplicate": 999}
    assert await user_balance(pool, user) == Decimal("2500.75")
    account_balance = await pool.fetchval(
        "SELECT balance FROM treasury.bank_accounts WHERE id = $1", account["id"]
    )
    assert account_balance == Decimal("2500.75")
    rows = await pool.fetchval(
        "SELECT count(*) FROM treasury.bank_transactions WHERE bank_account_id = $1",
        account["id"],
    )
    assert rows == 1


async def test_twenty_concurrent_creations_by_one_user_make_one_account_and_one_call(
    api: httpx.AsyncClient, wema: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool
) -> None:
    user = await new_user(pool)
    bvn = random_bvn()
    stack.bvns_used.append(bvn)
    body = account_body(bvn)
    answers = await asyncio.gather(
        *(api.post("/treasury/accounts", json=body, headers=bearer(user)) for _ in range(20))
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 19
    calls = (await wema.get("/_sandbox/calls", params={"email": body["email"]})).json()
    assert calls["creates"] == 1
    assert len(calls["accounts"]) == 1
    rows = await pool.fetchval(
        "SELECT count(*) FROM treasury.bank_accounts WHERE user_id = $1", user
    )
    assert rows == 1


async def test_a_bad_signature_is_401_and_writes_nothing(
    api: httpx.AsyncClient, wema: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool
) -> None:
    user = await new_user(pool)
    account = await open_account(api, stack, user)
    result = await sandbox_deposit(
        wema, account_number=account["accountNumber"], amount="100", bad_signature=True
    )
    assert result["statuses"] == {"401": 1}
    (reference,) = result["references"]
    written = await pool.fetchval(
        "SELECT (SELECT count(*) FROM treasury.bank_transactions WHERE transaction_reference = $1)"
        " + (SELECT count(*) FROM treasury.unmatched_deposits WHERE transaction_reference = $1)",
        reference,
    )
    assert written == 0
    assert await user_balance(pool, user) == 0


async def test_a_deposit_to_an_unknown_account_is_recorded_and_credits_nobody(
    wema: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    result = await sandbox_deposit(wema, account_number="0000000011", amount="75", duplicates=3)
    assert result["outcomes"] == {"held_for_review": 1, "duplicate": 2}
    (reference,) = result["references"]
    held = await pool.fetchrow(
        "SELECT reason, amount FROM treasury.unmatched_deposits WHERE transaction_reference = $1",
        reference,
    )
    assert held is not None
    assert (held["reason"], held["amount"]) == ("unknown_account", Decimal(75))
    credited = await pool.fetchval(
        "SELECT count(*) FROM treasury.bank_transactions WHERE transaction_reference = $1",
        reference,
    )
    assert credited == 0


async def test_out_of_order_and_duplicate_deliveries_credit_each_deposit_once(
    api: httpx.AsyncClient, wema: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool
) -> None:
    user = await new_user(pool)
    account = await open_account(api, stack, user)
    result = await sandbox_deposit(
        wema,
        account_number=account["accountNumber"],
        amount="10.10",
        deposits=4,
        duplicates=2,
        out_of_order=True,
        concurrency=1,
    )
    assert result["outcomes"] == {"credited": 4, "duplicate": 4}
    assert await user_balance(pool, user) == Decimal("40.40")
    history = await api.get("/treasury/accounts/me/transactions", headers=bearer(user))
    listed = [item["transactionReference"] for item in history.json()["items"]]
    assert listed == list(reversed(result["references"]))  # newest first


async def test_a_wema_timeout_is_504_and_the_retry_gets_the_account_wema_opened(
    api: httpx.AsyncClient, wema: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool
) -> None:
    user = await new_user(pool)
    bvn = random_bvn()
    stack.bvns_used.append(bvn)
    body = account_body(bvn)
    await wema.post("/_sandbox/fail-next", json={"mode": "timeout", "delay_seconds": 3})
    timed_out = await api.post("/treasury/accounts", json=body, headers=bearer(user))
    assert timed_out.status_code == 504
    assert timed_out.headers["content-type"] == "application/problem+json"
    assert (await api.get("/treasury/accounts/me", headers=bearer(user))).status_code == 404
    retry = await api.post("/treasury/accounts", json=body, headers=bearer(user))
    assert retry.status_code == 201
    calls = (await wema.get("/_sandbox/calls", params={"email": body["email"]})).json()
    assert calls["creates"] == 2
    assert len(calls["references"]) == 1
    (opened,) = calls["accounts"]
    assert retry.json()["accountNumber"] == opened["accountNumber"]


async def test_the_bvn_never_appears_unmasked_in_responses_or_in_the_service_logs(
    api: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool
) -> None:
    user, other = await new_user(pool), await new_user(pool)
    bvn = random_bvn()
    stack.bvns_used.append(bvn)
    answers = [
        await api.post("/treasury/accounts", json=account_body(bvn), headers=bearer(user)),
        await api.post("/treasury/accounts", json=account_body(bvn), headers=bearer(user)),
        await api.post("/treasury/accounts", json=account_body(bvn), headers=bearer(other)),
        await api.post("/treasury/accounts", json=account_body(bvn + "9"), headers=bearer(other)),
        await api.post(
            "/treasury/accounts", json=account_body(bvn, email="x"), headers=bearer(other)
        ),
        await api.get("/treasury/accounts/me", headers=bearer(user)),
    ]
    assert [a.status_code for a in answers] == [201, 409, 422, 422, 422, 200]
    assert answers[0].json()["bvn"] == "*******" + bvn[-4:]
    for answer in answers:
        assert bvn not in answer.text
    log = stack.service_log.read_text()
    assert '"event": "account_created"' in log or '"event":"account_created"' in log
    for used in stack.bvns_used:
        assert used not in log


def ops_user(name: str) -> dict[str, str]:
    return bearer(name, roles=("ops",))


async def open_case_for(api: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    """The open case whose references name this deposit, read page by page over HTTP."""
    params = {"limit": "100"}
    while True:
        page = (
            await api.get("/treasury/ops/cases", params=params, headers=ops_user("ops-e2e"))
        ).json()
        for case in page["items"]:
            if case["refs"].get("reference") == reference:
                found: dict[str, Any] = case
                return found
        assert page["nextCursor"] is not None, f"no open case for {reference}"
        params["cursor"] = page["nextCursor"]


async def test_a_held_deposit_is_a_case_that_two_ops_users_credit_exactly_once(
    api: httpx.AsyncClient, wema: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool
) -> None:
    # A deposit to an account that was closed: held, and a case for a person.
    owner = await new_user(pool)
    account = await open_account(api, stack, owner)
    await pool.execute(
        "UPDATE treasury.bank_accounts SET status = 'closed' WHERE id = $1", account["id"]
    )
    result = await sandbox_deposit(wema, account_number=account["accountNumber"], amount="12500.25")
    assert result["outcomes"] == {"held_for_review": 1}
    (reference,) = result["references"]
    case = await open_case_for(api, reference)
    assert (case["kind"], case["reason"], case["refs"]["userId"]) == (
        "deposit_held",
        "closed_account",
        owner,
    )
    assert "credit_user" in case["allowedActions"]

    # The customer proved the transfer and has a new wallet: one ops user proposes the credit.
    customer = await new_user(pool)
    proposed = await api.post(
        f"/treasury/ops/cases/{case['id']}/actions",
        json={
            "action": "credit_user",
            "reason": "the customer's old account was closed; bank slip checked",
            "parameters": {"userId": customer},
        },
        headers={**ops_user("ops-ada"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert (proposed.status_code, proposed.json()["status"]) == (201, "proposed")
    action_id = proposed.json()["id"]
    own = await api.post(
        f"/treasury/ops/actions/{action_id}/approve", json={}, headers=ops_user("ops-ada")
    )
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes")
    assert await user_balance(pool, customer) == 0

    # Twenty other ops users approve at once: one applies, the others find it decided.
    answers = await asyncio.gather(
        *(
            api.post(
                f"/treasury/ops/actions/{action_id}/approve",
                json={"reason": "slip matches"},
                headers=ops_user(f"ops-approver-{n}"),
            )
            for n in range(20)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 19
    (winner,) = [a.json() for a in answers if a.status_code == 201]
    assert winner["status"] == "applied"
    assert await user_balance(pool, customer) == Decimal("12500.25")
    assert await user_balance(pool, owner) == 0

    # The deposit's own webhook again (Wema redelivers) is a duplicate: still credited once.
    notice = await pool.fetchval(
        "SELECT payload FROM treasury.unmatched_deposits WHERE transaction_reference = $1",
        reference,
    )
    body, headers = signed(notice)
    redelivered = await api.post("/treasury/webhook", content=body, headers=headers)
    assert redelivered.json()["status"] == "duplicate"
    assert await user_balance(pool, customer) == Decimal("12500.25")

    audit = await api.get(
        "/treasury/ops/audit", params={"limit": "100"}, headers=ops_user("ops-e2e")
    )
    entries = [e for e in audit.json()["items"] if e["actionId"] == action_id]
    assert {(e["actor"], e["request"]) for e in entries} == {
        ("ops-ada", "propose"),
        (winner["decidedBy"], "approve"),
    }
    assert winner["proposedBy"] == "ops-ada"
    assert winner["decidedBy"].startswith("ops-approver-")
    case_after = (
        await api.get(f"/treasury/ops/cases/{case['id']}", headers=ops_user("ops-e2e"))
    ).json()
    assert (case_after["status"], case_after["resolution"]) == ("resolved", "credit_user")
