"""Treasury's cases and ops actions on the real database: every exception a case, opened with
the row that records it; money moves only on a second ops user's approval, exactly once, in one
transaction with the row that explains it, the case's resolution and the audit."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_common import jsonio
from betfuz_common.ops.service import open_case
from betfuz_common.signatures import sign
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import balance_of
from services.treasury.tests.support import (
    WEMA_SECRET,
    AppClient,
    NewUser,
    OpenAccount,
    deposit_payload,
    post_deposit,
)
from treasury.operations import OPERATIONS

UNKNOWN = "0000000099"


def ops(user: str = "ops-ada") -> dict[str, str]:
    return bearer(user, roles=("ops",))


@pytest.fixture
async def client(app_client: AppClient) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client() as opened:
        yield opened


async def case_for(pool: asyncpg.Pool, kind: str, reference: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT id, reason, refs, amounts, status, occurrences FROM treasury.cases "
        "WHERE kind = $1 AND refs->>'reference' = $2",
        kind,
        reference,
    )
    assert row is not None, (kind, reference)
    return {**dict(row), "amounts": {k: Decimal(v) for k, v in row["amounts"].items()}}


async def held_deposit(client: httpx.AsyncClient, amount: str = "7500.50") -> dict[str, Any]:
    payload = deposit_payload(UNKNOWN, amount)
    answer = await post_deposit(client, payload)
    assert answer.json()["status"] == "held_for_review"
    return payload


async def held_case_id(
    client: httpx.AsyncClient, pool: asyncpg.Pool, amount: str = "7500.50"
) -> tuple[int, str]:
    payload = await held_deposit(client, amount)
    reference = payload["transaction_reference"]
    return (await case_for(pool, "deposit_held", reference))["id"], reference


async def act(
    client: httpx.AsyncClient, case_id: int, action: str, by: str = "ops-ada", **parameters: str
) -> httpx.Response:
    body = {"action": action, "reason": "checked with the customer", "parameters": parameters}
    return await client.post(f"/treasury/ops/cases/{case_id}/actions", json=body, headers=ops(by))


async def decide(client: httpx.AsyncClient, action_id: int, verb: str, by: str) -> httpx.Response:
    return await client.post(
        f"/treasury/ops/actions/{action_id}/{verb}", json={"reason": "seen"}, headers=ops(by)
    )


async def resolutions(pool: asyncpg.Pool, reference: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT outcome, source, user_id, amount FROM treasury.deposit_resolutions "
        "WHERE transaction_reference = $1",
        reference,
    )


# --- cases ------------------------------------------------------------------------------


async def test_a_deposit_to_an_unknown_account_is_one_case_with_its_reference_and_amount(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    payload = await held_deposit(client, "7500.50")
    again = await post_deposit(client, payload)
    assert again.json()["status"] == "duplicate"
    reference = payload["transaction_reference"]
    case = await case_for(pool, "deposit_held", reference)
    assert (case["reason"], case["status"], case["occurrences"]) == ("unknown_account", "open", 1)
    assert case["refs"] == {"reference": reference, "accountNumber": UNKNOWN}
    listed = (
        await client.get("/treasury/ops/cases", params={"limit": "100"}, headers=ops())
    ).json()
    mine = next(item for item in listed["items"] if item["id"] == case["id"])
    assert mine["amounts"] == [
        {"name": "amount", "amount": 7500.5, "amountKobo": 750050, "currency": "NGN"}
    ]
    assert mine["allowedActions"] == ["credit_user", "mark_returned", "dismiss"]


@pytest.mark.parametrize(
    ("status", "reason"), [("suspended", "suspended_account"), ("closed", "closed_account")]
)
async def test_a_deposit_to_a_suspended_or_closed_account_is_a_case_naming_its_user(
    client: httpx.AsyncClient,
    new_user: NewUser,
    open_account: OpenAccount,
    pool: asyncpg.Pool,
    status: str,
    reason: str,
) -> None:
    user = await new_user()
    account = await open_account(client, user)
    await pool.execute(
        "UPDATE treasury.bank_accounts SET status = $2 WHERE id = $1", account["id"], status
    )
    payload = deposit_payload(account["accountNumber"], "300")
    assert (await post_deposit(client, payload)).json()["status"] == "held_for_review"
    case = await case_for(pool, "deposit_held", payload["transaction_reference"])
    assert case["reason"] == reason
    assert case["refs"]["userId"] == user
    assert case["refs"]["accountNumber"] == account["accountNumber"]


async def test_a_deposit_whose_user_row_is_gone_is_a_missing_user_case(
    client: httpx.AsyncClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    account = await open_account(client, user)
    await pool.execute("DELETE FROM public.users WHERE id = $1", user)
    payload = deposit_payload(account["accountNumber"], "300")
    assert (await post_deposit(client, payload)).json()["status"] == "held_for_review"
    case = await case_for(pool, "deposit_held", payload["transaction_reference"])
    assert (case["reason"], case["refs"]["userId"]) == ("missing_user", user)


def refused_bytes(account_number: str, amount: str = "2500") -> tuple[bytes, str]:
    """A signed notice our parser refuses (a NUL in the narration) whose reference, account
    and amount are each valid."""
    payload = deposit_payload(account_number, amount)
    body = jsonio.dumps({**payload, "narration": None}).replace(
        b'"narration":null', b'"narration":"to\\u0000Betfuz"'
    )
    return body, payload["transaction_reference"]


async def post_raw(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    headers = {
        "content-type": "application/json",
        "x-wema-signature": sign(body, WEMA_SECRET.encode(), "sha512"),
    }
    return await client.post("/treasury/webhook", content=body, headers=headers)


async def test_a_refused_signed_notice_is_a_case_with_what_could_be_read_of_it(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    body, reference = refused_bytes(UNKNOWN, "2500")
    for _ in range(2):
        assert (await post_raw(client, body)).status_code == 422
    case = await case_for(pool, "deposit_refused", reference)
    assert case["occurrences"] == 2
    assert case["refs"]["accountNumber"] == UNKNOWN
    assert case["amounts"] == {"amount": Decimal(2500)}
    assert "narration" in case["reason"]


async def test_an_unreadable_refused_notice_is_a_case_a_credit_cannot_use(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser
) -> None:
    body = b'{"amount": 1e400, "transaction_reference": "has space"}'
    assert (await post_raw(client, body)).status_code == 422
    digest = hashlib.sha256(body).hexdigest()
    row = await pool.fetchrow(
        "SELECT id, refs, amounts FROM treasury.cases WHERE kind = 'deposit_refused' "
        "AND subject = $1",
        digest,
    )
    assert row is not None
    assert (row["refs"], row["amounts"]) == ({"payloadSha256": digest}, {})
    user = await new_user()
    refused = await act(client, row["id"], "credit_user", userId=user)
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    assert await balance_of(pool, user) == 0


async def test_a_reused_reference_is_a_case_that_offers_no_credit(
    client: httpx.AsyncClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    account = await open_account(client, user)
    original = deposit_payload(account["accountNumber"], "500")
    await post_deposit(client, original)
    await post_deposit(client, {**original, "amount": Decimal("900")})
    case = await case_for(pool, "reference_reused", original["transaction_reference"])
    assert case["amounts"] == {"amount": Decimal(900), "earlierAmount": Decimal(500)}
    assert case["refs"]["earlierOutcome"] == "credited"
    credit = await act(client, case["id"], "credit_user", userId=user)
    assert (credit.status_code, credit.json()["code"]) == (422, "action_not_offered")
    returned = await act(client, case["id"], "mark_returned")
    assert returned.json()["status"] == "proposed"
    applied = await decide(client, returned.json()["id"], "approve", "ops-bola")
    assert applied.json()["status"] == "applied"
    assert await balance_of(pool, user) == Decimal(500)


async def test_an_amount_mismatch_from_reconciliation_can_only_be_dismissed(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser
) -> None:
    reference = f"WEMA-{uuid.uuid4().hex[:16]}"
    async with pool.acquire() as conn:
        case = await open_case(
            conn,
            OPERATIONS,
            kind="amount_mismatch",
            subject=reference,
            reason="Wema lists 600, we credited 500",
            refs={"reference": reference},
            amounts={"amount": Decimal(600)},
        )
    user = await new_user()
    for action, parameters in (("credit_user", {"userId": user}), ("mark_returned", {})):
        answer = await act(client, case.id, action, **parameters)
        assert (answer.status_code, answer.json()["code"]) == (422, "action_not_offered")
    dismissed = await act(client, case.id, "dismiss")
    assert (dismissed.status_code, dismissed.json()["status"]) == (201, "applied")


# --- credit_user ------------------------------------------------------------------------


async def test_a_credit_waits_for_a_second_ops_user_then_credits_once_with_its_explanation(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser
) -> None:
    user = await new_user(100)
    case_id, reference = await held_case_id(client, pool, "7500.50")
    proposed = await act(client, case_id, "credit_user", userId=user)
    assert (proposed.status_code, proposed.json()["status"]) == (201, "proposed")
    action_id = proposed.json()["id"]
    own = await decide(client, action_id, "approve", "ops-ada")
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes")
    assert await balance_of(pool, user) == Decimal(100)

    approved = await decide(client, action_id, "approve", "ops-bola")
    assert (approved.status_code, approved.json()["status"]) == (201, "applied")
    assert await balance_of(pool, user) == Decimal("7600.50")
    assert [tuple(r) for r in await resolutions(pool, reference)] == [
        ("credited", "ops", user, Decimal("7500.50"))
    ]
    held_resolved = await pool.fetchval(
        "SELECT resolved_at IS NOT NULL FROM treasury.unmatched_deposits "
        "WHERE transaction_reference = $1",
        reference,
    )
    assert held_resolved
    case = (await client.get(f"/treasury/ops/cases/{case_id}", headers=ops())).json()
    assert (case["status"], case["resolution"], case["allowedActions"]) == (
        "resolved",
        "credit_user",
        [],
    )
    assert [(a["proposedBy"], a["decidedBy"], a["status"]) for a in case["history"]] == [
        ("ops-ada", "ops-bola", "applied")
    ]
    again = await decide(client, action_id, "approve", "ops-chi")
    assert (again.status_code, again.json()["code"]) == (409, "action_decided")
    # A later delivery of the deposit is a duplicate: the money is credited once.
    assert (await post_deposit(client, await held_payload(pool, reference))).json()[
        "status"
    ] == "duplicate"
    assert await balance_of(pool, user) == Decimal("7600.50")


async def held_payload(pool: asyncpg.Pool, reference: str) -> dict[str, Any]:
    payload: dict[str, Any] = await pool.fetchval(
        "SELECT payload FROM treasury.unmatched_deposits WHERE transaction_reference = $1",
        reference,
    )
    return payload


async def test_twenty_concurrent_approvals_credit_the_wallet_once(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser
) -> None:
    user = await new_user()
    case_id, reference = await held_case_id(client, pool, "5000")
    action_id = (await act(client, case_id, "credit_user", userId=user)).json()["id"]
    answers = await asyncio.gather(
        *(decide(client, action_id, "approve", f"ops-{n}") for n in range(20))
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 19
    assert await balance_of(pool, user) == Decimal(5000)
    assert len(await resolutions(pool, reference)) == 1


async def test_a_rejected_credit_moves_nothing_and_the_case_stays_open(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser
) -> None:
    user = await new_user()
    case_id, reference = await held_case_id(client, pool)
    action_id = (await act(client, case_id, "credit_user", userId=user)).json()["id"]
    own = await decide(client, action_id, "reject", "ops-ada")
    assert own.status_code == 403
    rejected = await decide(client, action_id, "reject", "ops-bola")
    assert rejected.json()["status"] == "rejected"
    late = await decide(client, action_id, "approve", "ops-chi")
    assert (late.status_code, late.json()["code"]) == (409, "action_decided")
    assert await balance_of(pool, user) == 0
    assert await resolutions(pool, reference) == []
    case = (await client.get(f"/treasury/ops/cases/{case_id}", headers=ops())).json()
    assert case["status"] == "open"
    assert "credit_user" in case["allowedActions"]


async def test_a_credit_to_a_wallet_that_does_not_exist_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id, _ = await held_case_id(client, pool)
    answer = await act(client, case_id, "credit_user", userId=f"nobody-{uuid.uuid4().hex}")
    assert (answer.status_code, answer.json()["code"]) == (422, "action_refused")
    case = (await client.get(f"/treasury/ops/cases/{case_id}", headers=ops())).json()
    assert (case["status"], case["history"]) == ("open", [])


async def test_a_credit_whose_wallet_vanished_before_approval_is_refused_and_moves_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser
) -> None:
    user = await new_user()
    case_id, reference = await held_case_id(client, pool)
    action_id = (await act(client, case_id, "credit_user", userId=user)).json()["id"]
    await pool.execute("DELETE FROM public.users WHERE id = $1", user)
    refused = await decide(client, action_id, "approve", "ops-bola")
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    assert await resolutions(pool, reference) == []


@pytest.mark.parametrize(
    "user_id",
    [b'""', b'"a\\u0000b"', b'"' + b"x" * 129 + b'"', b'"\\ud800"', b"42", b"null"],
    ids=["empty", "nul", "too-long", "lone-surrogate", "a-number", "null"],
)
async def test_a_credit_for_a_malformed_user_id_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, user_id: bytes
) -> None:
    case_id, _ = await held_case_id(client, pool)
    body = b'{"action":"credit_user","reason":"checked","parameters":{"userId":' + user_id + b"}}"
    answer = await client.post(
        f"/treasury/ops/cases/{case_id}/actions",
        content=body,
        headers={**ops(), "content-type": "application/json"},
    )
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    actions = await pool.fetchval(
        "SELECT count(*) FROM treasury.case_actions WHERE case_id = $1", case_id
    )
    assert actions == 0


async def test_a_refused_notice_credited_by_ops_is_never_credited_again_by_a_fixed_delivery(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser, open_account: OpenAccount
) -> None:
    owner = await new_user()
    account = await open_account(client, owner)
    body, reference = refused_bytes(account["accountNumber"], "2500")
    assert (await post_raw(client, body)).status_code == 422
    case = await case_for(pool, "deposit_refused", reference)
    action_id = (await act(client, case["id"], "credit_user", userId=owner)).json()["id"]
    assert (await decide(client, action_id, "approve", "ops-bola")).json()["status"] == "applied"
    fixed = jsonio.loads(body.replace(b"to\\u0000Betfuz", b"to Betfuz"))
    redelivered = await post_deposit(client, fixed)
    assert redelivered.json()["status"] == "duplicate"
    assert await balance_of(pool, owner) == Decimal(2500)


async def test_a_credit_of_a_deposit_a_delivery_credited_meanwhile_is_refused_at_approval(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser, open_account: OpenAccount
) -> None:
    owner = await new_user()
    account = await open_account(client, owner)
    body, reference = refused_bytes(account["accountNumber"], "2500")
    await post_raw(client, body)
    case = await case_for(pool, "deposit_refused", reference)
    action_id = (await act(client, case["id"], "credit_user", userId=owner)).json()["id"]
    fixed = jsonio.loads(body.replace(b"to\\u0000Betfuz", b"to Betfuz"))
    assert (await post_deposit(client, fixed)).json()["status"] == "credited"
    refused = await decide(client, action_id, "approve", "ops-bola")
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    assert await balance_of(pool, owner) == Decimal(2500)


async def test_an_approval_racing_the_deposits_own_delivery_credits_once(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser, open_account: OpenAccount
) -> None:
    owner = await new_user()
    account = await open_account(client, owner)
    body, reference = refused_bytes(account["accountNumber"], "2500")
    await post_raw(client, body)
    case = await case_for(pool, "deposit_refused", reference)
    action_id = (await act(client, case["id"], "credit_user", userId=owner)).json()["id"]
    fixed = jsonio.loads(body.replace(b"to\\u0000Betfuz", b"to Betfuz"))
    approvals = [decide(client, action_id, "approve", f"ops-{n}") for n in range(5)]
    deliveries = [post_deposit(client, fixed) for _ in range(5)]
    answers = await asyncio.gather(*approvals, *deliveries)
    assert all(a.status_code in (200, 201, 409, 422) for a in answers), [a.text for a in answers]
    assert await balance_of(pool, owner) == Decimal(2500)


# --- mark_returned and dismiss ----------------------------------------------------------


async def test_marking_a_deposit_returned_needs_a_second_ops_user_and_credits_nobody(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id, reference = await held_case_id(client, pool)
    proposed = await act(client, case_id, "mark_returned")
    assert (proposed.status_code, proposed.json()["status"]) == (201, "proposed")
    assert proposed.json()["movesMoney"] is False
    assert proposed.json()["needsApproval"] is True
    own = await decide(client, proposed.json()["id"], "approve", "ops-ada")
    assert own.status_code == 403
    applied = await decide(client, proposed.json()["id"], "approve", "ops-bola")
    assert applied.json()["status"] == "applied"
    assert [tuple(r) for r in await resolutions(pool, reference)] == [
        ("returned", "ops", None, Decimal("7500.50"))
    ]


async def test_a_dismissal_applies_at_once_and_leaves_the_open_list(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id, _ = await held_case_id(client, pool)
    answer = await act(client, case_id, "dismiss")
    assert (answer.status_code, answer.json()["status"]) == (201, "applied")
    listed = (
        await client.get("/treasury/ops/cases", params={"limit": "100"}, headers=ops())
    ).json()
    assert case_id not in {item["id"] for item in listed["items"]}
    again = await act(client, case_id, "dismiss")
    assert (again.status_code, again.json()["code"]) == (409, "case_resolved")


# --- who may ----------------------------------------------------------------------------


async def test_a_token_without_the_ops_role_is_403_on_every_ops_route(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id, _ = await held_case_id(client, pool)
    player = bearer("player-1")
    answers = [
        await client.get("/treasury/ops/cases", headers=player),
        await client.get(f"/treasury/ops/cases/{case_id}", headers=player),
        await client.get("/treasury/ops/audit", headers=player),
        await client.post(
            f"/treasury/ops/cases/{case_id}/actions",
            json={"action": "dismiss", "reason": "not mine"},
            headers=player,
        ),
        await client.post("/treasury/ops/actions/1/approve", json={}, headers=player),
    ]
    assert [a.status_code for a in answers] == [403] * 5
    case = (await client.get(f"/treasury/ops/cases/{case_id}", headers=ops())).json()
    assert case["status"] == "open"


async def test_the_audit_names_the_proposer_and_the_approver_of_a_credit(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser
) -> None:
    user = await new_user()
    case_id, _ = await held_case_id(client, pool)
    action_id = (await act(client, case_id, "credit_user", userId=user)).json()["id"]
    await decide(client, action_id, "approve", "ops-bola")
    log = (await client.get("/treasury/ops/audit", params={"limit": "100"}, headers=ops())).json()
    mine = [e for e in log["items"] if e["actionId"] == action_id]
    assert sorted((e["actor"], e["request"]) for e in mine) == [
        ("ops-ada", "propose"),
        ("ops-bola", "approve"),
    ]
    approval = next(e for e in mine if e["request"] == "approve")
    assert approval["after"]["outcome"]["credited"] == user
    assert approval["before"]["case"]["status"] == "open"
    assert approval["after"]["case"]["status"] == "resolved"
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("DELETE FROM treasury.ops_audit WHERE action_id = $1", action_id)


@pytest.mark.parametrize("path", ["/treasury/ops/cases/", "/treasury/ops/cases/%2F"])
async def test_an_empty_case_id_is_a_404_problem_never_a_redirect_to_the_list(
    client: httpx.AsyncClient, path: str
) -> None:
    answer = await client.get(path, headers=ops())
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_an_approval_that_fails_midway_leaves_nothing_and_the_next_one_credits_once(
    client: httpx.AsyncClient, pool: asyncpg.Pool, new_user: NewUser
) -> None:
    """The database goes away after the wallet's UPDATE, at the row that explains it: the
    whole approval rolls back (wallet, case, action, audit) and can be approved again."""
    user = await new_user()
    case_id, reference = await held_case_id(client, pool, "4000")
    action_id = (await act(client, case_id, "credit_user", userId=user)).json()["id"]
    await pool.execute(
        """
        CREATE FUNCTION treasury.fail_resolution() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the database went away' USING ERRCODE = '57P01'; END $$;
        CREATE TRIGGER fail_resolution BEFORE INSERT ON treasury.deposit_resolutions
            FOR EACH ROW EXECUTE FUNCTION treasury.fail_resolution();
        """
    )
    try:
        failed = await decide(client, action_id, "approve", "ops-bola")
    finally:
        await pool.execute(
            "DROP TRIGGER fail_resolution ON treasury.deposit_resolutions; "
            "DROP FUNCTION treasury.fail_resolution()"
        )
    assert failed.status_code == 503, failed.text
    assert await balance_of(pool, user) == 0
    case = (await client.get(f"/treasury/ops/cases/{case_id}", headers=ops())).json()
    assert (case["status"], [a["status"] for a in case["history"]]) == ("open", ["proposed"])
    approvals = await pool.fetchval(
        "SELECT count(*) FROM treasury.ops_audit WHERE action_id = $1 AND request = 'approve'",
        action_id,
    )
    assert approvals == 0
    retried = await decide(client, action_id, "approve", "ops-chi")
    assert retried.json()["status"] == "applied"
    assert await balance_of(pool, user) == Decimal(4000)
    assert len(await resolutions(pool, reference)) == 1


async def test_the_treasury_document_declares_the_ops_api_and_a_replayed_key_answers_the_same(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    doc = (await client.get("/treasury/openapi.json")).json()
    ids = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert {
        "listCases",
        "getCase",
        "actOnCase",
        "approveAction",
        "rejectAction",
        "readAudit",
    } <= ids
    case_id, _ = await held_case_id(client, pool)
    headers = {**ops(), "Idempotency-Key": uuid.uuid4().hex}
    body = {"action": "mark_returned", "reason": "the bank returned it"}
    first = await client.post(f"/treasury/ops/cases/{case_id}/actions", json=body, headers=headers)
    again = await client.post(f"/treasury/ops/cases/{case_id}/actions", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
