"""The operations API on a tiny service of its own, on the real database: cases, four eyes on
money, exactly-once approval under concurrency, and the append-only audit.

The library's tables live in every service schema; the topup schema serves these tests, with
a demo action that credits a wallet.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette

from betfuz_common.api import Api
from betfuz_common.app import ServiceApp, create_service_app
from betfuz_common.auth import issue_token
from betfuz_common.ops.domain import ActionContext, ActionRefused, ActionSpec, Applied, Operations
from betfuz_common.ops.service import open_case
from betfuz_common.settings import CommonSettings, load_settings
from betfuz_testing.wallets import MakeUser, balance_of

SECRET = "ops-test-secret-0123456789abcdef0123456789"
SCHEMA = "topup"


class CreditUser(BaseModel):
    userId: str
    amount: Decimal


async def credit_user(ctx: ActionContext) -> Applied:
    params = ctx.parameters
    assert isinstance(params, CreditUser)
    balance = await ctx.conn.fetchval(
        "UPDATE public.users SET balance = balance + $2 WHERE id = $1 RETURNING balance",
        params.userId,
        params.amount,
    )
    if balance is None:
        raise ActionRefused("no such wallet")
    return Applied({"credited": params.userId, "balance": format(balance, "f")})


async def dismiss(_: ActionContext) -> Applied:
    return Applied({"dismissed": True})


OPERATIONS = Operations(
    SCHEMA,
    [
        ActionSpec("credit_user", frozenset({"held"}), True, credit_user, CreditUser),
        ActionSpec("dismiss", frozenset({"held", "other"}), False, dismiss),
    ],
)


class Settings(CommonSettings):
    api_base_url: str = "http://ops.test"


@pytest.fixture
async def app(pool: asyncpg.Pool, database_url: str) -> AsyncIterator[Starlette]:
    @asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[None]:
        application.state.pool = pool
        yield

    application = create_service_app(
        ServiceApp(
            prefix="/demo",
            api=Api(title="demo", description="demo", tag="demo"),
            errors={},
            lifespan=lifespan,
            settings=load_settings(Settings, {"APP_ENV": "test", "JWT_SECRET": SECRET}),
            operations=OPERATIONS,
        )
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops.test") as client:
        yield client


def ops(user: str = "ops-ada", *roles: str) -> dict[str, str]:
    token = issue_token(SECRET, user, roles=roles or ("ops",))
    return {"Authorization": f"Bearer {token}"}


async def held_case(pool: asyncpg.Pool, amount: str = "5000") -> int:
    async with pool.acquire() as conn, conn.transaction():
        case = await open_case(
            conn,
            OPERATIONS,
            kind="held",
            subject=f"DEP-{uuid.uuid4().hex}",
            reason="deposit for an unknown account",
            refs={"transaction_reference": "DEP"},
            amounts={"deposit": Decimal(amount)},
        )
    return case.id


async def propose_credit(
    http: httpx.AsyncClient, case_id: int, user: str, amount: str = "5000"
) -> httpx.Response:
    body = {
        "action": "credit_user",
        "reason": "the customer proved the transfer",
        "parameters": {"userId": user, "amount": amount},
    }
    return await http.post(f"/demo/ops/cases/{case_id}/actions", json=body, headers=ops("ops-ada"))


async def test_the_same_exception_twice_is_one_case_counted_twice(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        first = await open_case(conn, OPERATIONS, kind="other", subject="S-1", reason="r")
        again = await open_case(conn, OPERATIONS, kind="other", subject="S-1", reason="r")
    assert (again.id, again.occurrences) == (first.id, first.occurrences + 1)


async def test_a_case_lists_with_its_amounts_exact_and_the_actions_it_allows(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await held_case(pool, "5000.50")
    page = (await http.get("/demo/ops/cases", params={"limit": "100"}, headers=ops())).json()
    mine = next(item for item in page["items"] if item["id"] == case_id)
    assert mine["amounts"] == [
        {"name": "deposit", "amount": 5000.5, "amountKobo": 500050, "currency": "NGN"}
    ]
    assert mine["allowedActions"] == ["credit_user", "dismiss"]
    assert mine["status"] == "open"


async def test_an_action_that_moves_no_money_applies_at_once_and_resolves_the_case(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await held_case(pool)
    answer = await http.post(
        f"/demo/ops/cases/{case_id}/actions",
        json={"action": "dismiss", "reason": "a test transfer by the bank"},
        headers=ops(),
    )
    assert (answer.status_code, answer.json()["status"]) == (201, "applied")
    case = (await http.get(f"/demo/ops/cases/{case_id}", headers=ops())).json()
    assert (case["status"], case["resolution"], case["allowedActions"]) == (
        "resolved",
        "dismiss",
        [],
    )
    open_ids = {
        item["id"]
        for item in (
            await http.get("/demo/ops/cases", params={"limit": "100"}, headers=ops())
        ).json()["items"]
    }
    assert case_id not in open_ids


async def test_money_waits_for_a_second_person_and_the_proposer_cannot_approve_it(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(0)
    case_id = await held_case(pool)
    proposed = await propose_credit(http, case_id, user)
    assert (proposed.status_code, proposed.json()["status"]) == (201, "proposed")
    action_id = proposed.json()["id"]
    own = await http.post(f"/demo/ops/actions/{action_id}/approve", json={}, headers=ops("ops-ada"))
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes")
    assert await balance_of(pool, user) == Decimal("0")
    approved = await http.post(
        f"/demo/ops/actions/{action_id}/approve",
        json={"reason": "checked"},
        headers=ops("ops-bola"),
    )
    assert (approved.status_code, approved.json()["status"]) == (201, "applied")
    assert await balance_of(pool, user) == Decimal("5000")
    case = (await http.get(f"/demo/ops/cases/{case_id}", headers=ops())).json()
    assert case["status"] == "resolved"
    assert [(a["status"], a["proposedBy"], a["decidedBy"]) for a in case["history"]] == [
        ("applied", "ops-ada", "ops-bola")
    ]


async def test_twenty_concurrent_approvals_apply_the_money_once(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(0)
    case_id = await held_case(pool)
    action_id = (await propose_credit(http, case_id, user)).json()["id"]
    answers = await asyncio.gather(
        *(
            http.post(f"/demo/ops/actions/{action_id}/approve", json={}, headers=ops(f"ops-{i}"))
            for i in range(20)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 19
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"action_decided"}
    assert await balance_of(pool, user) == Decimal("5000")


async def test_a_rejection_moves_nothing_and_leaves_the_case_open_for_another_proposal(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(0)
    case_id = await held_case(pool)
    first = (await propose_credit(http, case_id, user)).json()["id"]
    second_while_waiting = await propose_credit(http, case_id, user)
    assert (second_while_waiting.status_code, second_while_waiting.json()["code"]) == (
        409,
        "proposal_pending",
    )
    rejected = await http.post(
        f"/demo/ops/actions/{first}/reject", json={"reason": "wrong user"}, headers=ops("ops-bola")
    )
    assert rejected.json()["status"] == "rejected"
    again = await http.post(f"/demo/ops/actions/{first}/approve", json={}, headers=ops("ops-chi"))
    assert (again.status_code, again.json()["code"]) == (409, "action_decided")
    assert await balance_of(pool, user) == Decimal("0")
    assert (await propose_credit(http, case_id, user)).status_code == 201


async def test_an_action_refused_by_the_service_changes_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await held_case(pool)
    action_id = (await propose_credit(http, case_id, "nobody-" + uuid.uuid4().hex)).json()["id"]
    refused = await http.post(
        f"/demo/ops/actions/{action_id}/approve", json={}, headers=ops("ops-bola")
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    case = (await http.get(f"/demo/ops/cases/{case_id}", headers=ops())).json()
    assert case["status"] == "open"
    assert [a["status"] for a in case["history"]] == ["proposed"]


async def test_an_action_the_service_does_not_offer_for_the_kind_is_422(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        case = await open_case(conn, OPERATIONS, kind="other", subject=uuid.uuid4().hex, reason="r")
    answer = await http.post(
        f"/demo/ops/cases/{case.id}/actions",
        json={"action": "credit_user", "reason": "not for this kind", "parameters": {}},
        headers=ops(),
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "action_not_offered")


async def test_only_ops_tokens_may_use_the_api(http: httpx.AsyncClient) -> None:
    player = await http.get("/demo/ops/cases", headers=ops("p1", "authenticated"))
    anonymous = await http.get("/demo/ops/cases")
    assert (player.status_code, anonymous.status_code) == (403, 401)


async def test_the_audit_shows_proposer_and_approver_and_cannot_be_rewritten(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(0)
    case_id = await held_case(pool)
    action_id = (await propose_credit(http, case_id, user)).json()["id"]
    await http.post(f"/demo/ops/actions/{action_id}/approve", json={}, headers=ops("ops-bola"))
    log = (await http.get("/demo/ops/audit", params={"limit": "100"}, headers=ops())).json()
    mine = [e for e in log["items"] if e["actionId"] == action_id]
    assert {(e["actor"], e["request"]) for e in mine} == {
        ("ops-ada", "propose"),
        ("ops-bola", "approve"),
    }
    assert all(e["requestId"] for e in mine)
    for statement in (
        "UPDATE topup.ops_audit SET actor = 'someone-else'",
        "DELETE FROM topup.ops_audit",
        "TRUNCATE topup.ops_audit",
    ):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute(statement)


async def test_an_idempotency_key_replays_the_first_answer_of_an_ops_post(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await held_case(pool)
    body = {"action": "dismiss", "reason": "duplicate of another case"}
    headers = {**ops(), "Idempotency-Key": uuid.uuid4().hex}
    first = await http.post(f"/demo/ops/cases/{case_id}/actions", json=body, headers=headers)
    again = await http.post(f"/demo/ops/cases/{case_id}/actions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


async def test_the_ops_operations_are_in_the_service_document(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/demo/openapi.json")).json()
    ids = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert {
        "listCases",
        "getCase",
        "actOnCase",
        "approveAction",
        "rejectAction",
        "readAudit",
    } <= ids
