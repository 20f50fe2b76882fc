"""Topup's cases and operations actions on the real database, Selcom faked: every exception
becomes a case, every action does what it says once, money waits for a second ops user."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import MakeUser, balance_of
from topup import repository as repo
from topup.ports import TopupPorts
from topup.reconcile import ReconcileConfig, reconcile_once

from .conftest import FakeSelcom, buy, post_webhook, webhook_body

# No status queries this tick (nothing is old enough); everything pending is past the SLA.
SLA_NOW = ReconcileConfig(interval_seconds=1, after_seconds=86_400, sla_seconds=0)
FAILED = {"resultcode": "000", "data": [{"status": "FAILED", "resultcode": "051"}]}
DELIVERED = {"resultcode": "000", "data": [{"status": "SUCCESS", "reference": "Q-9"}]}


def ops(user: str = "ops-ada") -> dict[str, str]:
    return bearer(user, roles=("ops",))


async def pending_topup(client: httpx.AsyncClient, make_user: MakeUser) -> tuple[str, str]:
    user = await make_user(3000)
    answer = await buy(client, user, phone="08030000005")  # 999: ambiguous, stays pending
    assert answer.json()["status"] == "pending"
    return user, answer.json()["reference"]


async def case_of(pool: asyncpg.Pool, kind: str, subject: str) -> int:
    case_id = await pool.fetchval(
        "SELECT id FROM topup.cases WHERE kind = $1 AND subject = $2", kind, subject
    )
    assert case_id is not None, (kind, subject)
    return int(case_id)


async def sla_case(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> tuple[str, str, int]:
    user, reference = await pending_topup(client, make_user)
    assert (await reconcile_once(ports, SLA_NOW)).ran
    return user, reference, await case_of(pool, "sla_breached", reference)


async def act(
    client: httpx.AsyncClient, case_id: int, action: str, user: str = "ops-ada"
) -> httpx.Response:
    body = {"action": action, "reason": f"{action} after checking with the carrier"}
    return await client.post(f"/topup/ops/cases/{case_id}/actions", json=body, headers=ops(user))


async def decide(
    client: httpx.AsyncClient, action_id: int, user: str, verb: str = "approve"
) -> httpx.Response:
    return await client.post(f"/topup/ops/actions/{action_id}/{verb}", json={}, headers=ops(user))


async def case_view(client: httpx.AsyncClient, case_id: int) -> dict[str, Any]:
    answer = await client.get(f"/topup/ops/cases/{case_id}", headers=ops())
    assert answer.status_code == 200
    view: dict[str, Any] = answer.json()
    return view


async def topup_row(pool: asyncpg.Pool, reference: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT t.status,"
        " (SELECT count(*) FROM topup.refunds r WHERE r.topup_id = t.id) AS refunds,"
        " (SELECT string_agg(source, ',') FROM topup.refunds r WHERE r.topup_id = t.id) AS source"
        " FROM topup.topup_transactions t WHERE t.reference = $1",
        reference,
    )
    assert row is not None
    return row


async def test_a_topup_past_its_sla_becomes_one_case_with_its_references_and_amount(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    await reconcile_once(ports, SLA_NOW)  # a later tick does not open it again
    page = await client.get("/topup/ops/cases", params={"limit": "100"}, headers=ops())
    (case,) = [item for item in page.json()["items"] if item["id"] == case_id]
    assert (case["kind"], case["status"], case["occurrences"]) == ("sla_breached", "open", 1)
    assert {k: case["refs"][k] for k in ("reference", "transid", "userId", "provider")} == {
        "reference": reference,
        "transid": reference,
        "userId": user,
        "provider": "selcom",
    }
    assert [(a["name"], a["amount"]) for a in case["amounts"]] == [("amount", 1000)]
    assert case["allowedActions"] == ["requery", "mark_completed", "refund", "dismiss"]


async def test_a_failure_reported_after_completion_opens_a_contradicting_statuses_case(
    client: httpx.AsyncClient, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user = await make_user(3000)
    reference = (await buy(client, user)).json()["reference"]  # completes at once
    late = await post_webhook(client, webhook_body(reference, "FAILED"))
    assert late.json()["outcome"] == "contradicting"
    case = await case_view(client, await case_of(pool, "contradicting_statuses", reference))
    assert case["refs"]["userId"] == user
    assert case["allowedActions"] == ["requery", "dismiss"]
    assert await balance_of(pool, user) == Decimal("2000.00")  # no money moved


async def test_a_signed_webhook_for_a_transid_we_never_issued_opens_an_unknown_reference_case(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    transid = "TOPNEVER" + uuid.uuid4().hex[:8].upper()
    for _ in range(2):
        answer = await post_webhook(client, webhook_body(transid, "SUCCESS"))
        assert answer.json()["outcome"] == "unknown_reference"
    case = await case_view(client, await case_of(pool, "unknown_reference", transid))
    assert (case["refs"]["transid"], case["refs"]["provider"]) == (transid, "selcom")
    assert (case["occurrences"], case["allowedActions"]) == (2, ["dismiss"])


async def test_requery_applies_the_providers_final_failure_once_and_resolves_the_case(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    ports: TopupPorts,
    pool: asyncpg.Pool,
    selcom: FakeSelcom,
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    selcom.query_answers[reference] = FAILED
    answer = await act(client, case_id, "requery")
    assert (answer.status_code, answer.json()["status"]) == (201, "applied")
    row = await topup_row(pool, reference)
    assert (row["status"], row["refunds"], row["source"]) == ("failed", 1, "ops")
    assert await balance_of(pool, user) == Decimal("3000.00")
    assert (await case_view(client, case_id))["resolution"] == "requery"


async def test_requery_of_a_topup_still_pending_changes_nothing_and_keeps_the_case_open(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    answer = await act(client, case_id, "requery")
    assert answer.json()["outcome"]["provider"]["outcome"] == "pending"
    assert (await topup_row(pool, reference))["status"] == "pending"
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert (await case_view(client, case_id))["status"] == "open"


async def test_mark_completed_waits_for_another_ops_user_and_moves_no_money(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    proposed = await act(client, case_id, "mark_completed")
    assert (proposed.status_code, proposed.json()["status"]) == (201, "proposed")
    assert proposed.json()["movesMoney"] is False
    own = await decide(client, proposed.json()["id"], "ops-ada")
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes")
    assert (await topup_row(pool, reference))["status"] == "pending"
    approved = await decide(client, proposed.json()["id"], "ops-bola")
    assert (approved.status_code, approved.json()["status"]) == (201, "applied")
    row = await topup_row(pool, reference)
    assert (row["status"], row["refunds"]) == ("completed", 0)
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert (await case_view(client, case_id))["status"] == "resolved"


async def test_mark_completed_is_refused_at_approval_when_the_provider_now_reports_a_failure(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    ports: TopupPorts,
    pool: asyncpg.Pool,
    selcom: FakeSelcom,
) -> None:
    _, reference, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "mark_completed")).json()["id"]
    selcom.query_answers[reference] = FAILED
    refused = await decide(client, action_id, "ops-bola")
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    assert (await topup_row(pool, reference))["status"] == "pending"


async def test_a_refund_on_the_providers_final_failure_applies_at_once(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    ports: TopupPorts,
    pool: asyncpg.Pool,
    selcom: FakeSelcom,
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    selcom.query_answers[reference] = FAILED
    answer = await act(client, case_id, "refund")
    assert (answer.status_code, answer.json()["status"]) == (201, "applied")
    assert answer.json()["needsApproval"] is False
    row = await topup_row(pool, reference)
    assert (row["status"], row["refunds"], row["source"]) == ("failed", 1, "ops")
    assert await balance_of(pool, user) == Decimal("3000.00")
    assert (await case_view(client, case_id))["resolution"] == "refund"


async def test_a_refund_overriding_the_provider_waits_for_a_second_ops_user_and_refunds_once(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    proposed = await act(client, case_id, "refund")  # Selcom still says pending
    assert (proposed.json()["status"], proposed.json()["needsApproval"]) == ("proposed", True)
    own = await decide(client, proposed.json()["id"], "ops-ada")
    assert own.status_code == 403
    assert await balance_of(pool, user) == Decimal("2000.00")
    approved = await decide(client, proposed.json()["id"], "ops-bola")
    assert (approved.status_code, approved.json()["status"]) == (201, "applied")
    row = await topup_row(pool, reference)
    assert (row["status"], row["refunds"], row["source"]) == ("failed", 1, "ops")
    assert await balance_of(pool, user) == Decimal("3000.00")
    history = (await case_view(client, case_id))["history"]
    assert [(a["action"], a["proposedBy"], a["decidedBy"]) for a in history] == [
        ("refund", "ops-ada", "ops-bola")
    ]


async def test_twenty_concurrent_approvals_of_one_refund_refund_once(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "refund")).json()["id"]
    answers = await asyncio.gather(*(decide(client, action_id, f"ops-{i}") for i in range(20)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 19
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"action_decided"}
    assert (await topup_row(pool, reference))["refunds"] == 1
    assert await balance_of(pool, user) == Decimal("3000.00")


async def test_a_refund_approved_after_the_topup_was_delivered_is_refused_and_moves_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "refund")).json()["id"]
    await post_webhook(client, webhook_body(reference, "SUCCESS"))  # settles meanwhile
    refused = await decide(client, action_id, "ops-bola")
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    row = await topup_row(pool, reference)
    assert (row["status"], row["refunds"]) == ("completed", 0)
    assert await balance_of(pool, user) == Decimal("2000.00")
    case = await case_view(client, case_id)
    assert [a["status"] for a in case["history"]] == ["proposed"]


async def test_a_refund_approved_after_the_topup_failed_and_was_refunded_refunds_nothing_more(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    ports: TopupPorts,
    pool: asyncpg.Pool,
    selcom: FakeSelcom,
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "refund")).json()["id"]
    await post_webhook(client, webhook_body(reference, "FAILED"))  # refunded by the webhook
    selcom.query_answers[reference] = FAILED
    refused = await decide(client, action_id, "ops-bola")
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    row = await topup_row(pool, reference)
    assert (row["status"], row["refunds"], row["source"]) == ("failed", 1, "webhook")
    assert await balance_of(pool, user) == Decimal("3000.00")


async def test_a_rejected_refund_moves_nothing_and_the_case_stays_open(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "refund")).json()["id"]
    rejected = await decide(client, action_id, "ops-bola", "reject")
    assert rejected.json()["status"] == "rejected"
    assert (await topup_row(pool, reference))["refunds"] == 0
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert (await case_view(client, case_id))["status"] == "open"


async def test_dismiss_closes_the_case_at_once_and_changes_nothing_else(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    answer = await act(client, case_id, "dismiss")
    assert (answer.status_code, answer.json()["status"]) == (201, "applied")
    assert (await topup_row(pool, reference))["status"] == "pending"
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert (await case_view(client, case_id))["resolution"] == "dismiss"


async def test_the_audit_shows_who_proposed_and_who_approved_a_refund(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    _, _, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "refund")).json()["id"]
    await decide(client, action_id, "ops-bola")
    log = await client.get("/topup/ops/audit", params={"limit": "100"}, headers=ops())
    mine = {(e["actor"], e["request"]) for e in log.json()["items"] if e["actionId"] == action_id}
    assert mine == {("ops-ada", "propose"), ("ops-bola", "approve")}


async def test_a_token_without_the_ops_role_is_refused_the_operations_api(
    client: httpx.AsyncClient,
) -> None:
    player = await client.get("/topup/ops/cases", headers=bearer("player-1"))
    approve = await client.post("/topup/ops/actions/1/approve", json={}, headers=bearer("p"))
    assert (player.status_code, approve.status_code) == (403, 403)


async def test_the_topup_document_lists_the_operations_paths(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/topup/openapi.json")).json()
    assert {
        "/topup/ops/cases",
        "/topup/ops/cases/{caseId}",
        "/topup/ops/cases/{caseId}/actions",
        "/topup/ops/actions/{actionId}/approve",
        "/topup/ops/actions/{actionId}/reject",
        "/topup/ops/audit",
    } <= set(doc["paths"])


async def test_an_approval_of_a_refund_already_applied_is_409_whatever_selcom_says_by_then(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    ports: TopupPorts,
    pool: asyncpg.Pool,
    selcom: FakeSelcom,
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "refund")).json()["id"]
    assert (await decide(client, action_id, "ops-bola")).status_code == 201
    selcom.query_answers[reference] = DELIVERED  # would refuse a refund now
    late = await decide(client, action_id, "ops-chi")
    assert (late.status_code, late.json()["code"]) == (409, "action_decided")
    assert (await topup_row(pool, reference))["refunds"] == 1
    assert await balance_of(pool, user) == Decimal("3000.00")


async def test_a_refund_approval_racing_a_success_webhook_moves_money_at_most_once(
    client: httpx.AsyncClient, make_user: MakeUser, ports: TopupPorts, pool: asyncpg.Pool
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "refund")).json()["id"]
    approvals = [decide(client, action_id, f"ops-{i}") for i in range(10)]
    webhooks = [post_webhook(client, webhook_body(reference, "SUCCESS")) for _ in range(3)]
    answers = await asyncio.gather(*approvals, *webhooks)
    row = await topup_row(pool, reference)
    applied = [a for a in answers[:10] if a.status_code == 201]
    assert len(applied) <= 1
    if applied:  # the refund won the row lock: the webhooks contradict it, moving nothing
        assert (row["status"], row["refunds"]) == ("failed", 1)
        assert await balance_of(pool, user) == Decimal("3000.00")
    else:  # the webhook won: every approval is refused
        assert {a.json()["code"] for a in answers[:10]} == {"action_refused"}
        assert (row["status"], row["refunds"]) == ("completed", 0)
        assert await balance_of(pool, user) == Decimal("2000.00")


async def test_a_refund_whose_connection_dies_mid_transaction_leaves_nothing_and_applies_later(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    ports: TopupPorts,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    action_id = (await act(client, case_id, "refund")).json()["id"]

    async def connection_lost(*_: object) -> None:
        raise ConnectionResetError("the database connection died after the wallet credit")

    with monkeypatch.context() as patch:
        patch.setattr(repo, "insert_refund", connection_lost)  # after status change and credit
        lost = await decide(client, action_id, "ops-bola")
    assert lost.status_code == 503  # a dependency failed: the one honest 5xx
    row = await topup_row(pool, reference)
    assert (row["status"], row["refunds"]) == ("pending", 0)
    assert await balance_of(pool, user) == Decimal("2000.00")
    case = await case_view(client, case_id)
    assert (case["status"], [a["status"] for a in case["history"]]) == ("open", ["proposed"])
    assert (await decide(client, action_id, "ops-bola")).status_code == 201
    assert (await topup_row(pool, reference))["refunds"] == 1
    assert await balance_of(pool, user) == Decimal("3000.00")


async def test_requery_of_a_topup_settled_since_its_sla_case_resolves_it_when_selcom_agrees(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    ports: TopupPorts,
    pool: asyncpg.Pool,
    selcom: FakeSelcom,
) -> None:
    user, reference, case_id = await sla_case(client, make_user, ports, pool)
    await post_webhook(client, webhook_body(reference, "SUCCESS"))
    selcom.query_answers[reference] = DELIVERED
    refund = await act(client, case_id, "refund")  # Selcom says delivered: an override, then
    refused = await decide(client, refund.json()["id"], "ops-bola")
    assert (refused.status_code, refused.json()["code"]) == (422, "action_refused")
    await decide(client, refund.json()["id"], "ops-bola", "reject")
    answer = await act(client, case_id, "requery")
    assert (answer.status_code, answer.json()["status"]) == (201, "applied")
    assert (await case_view(client, case_id))["resolution"] == "requery"
    assert await balance_of(pool, user) == Decimal("2000.00")


async def test_an_unknown_reference_case_offers_no_refund(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    transid = "TOPNEVER" + uuid.uuid4().hex[:8].upper()
    await post_webhook(client, webhook_body(transid, "FAILED"))
    answer = await act(client, await case_of(pool, "unknown_reference", transid), "refund")
    assert (answer.status_code, answer.json()["code"]) == (422, "action_not_offered")


async def test_requeries_racing_contradicting_webhooks_all_answer_and_move_no_money(
    client: httpx.AsyncClient, make_user: MakeUser, pool: asyncpg.Pool, selcom: FakeSelcom
) -> None:
    user = await make_user(3000)
    reference = (await buy(client, user)).json()["reference"]  # completed at once
    await post_webhook(client, webhook_body(reference, "FAILED"))
    case_id = await case_of(pool, "contradicting_statuses", reference)
    selcom.query_answers[reference] = FAILED  # Selcom now contradicts our record too
    answers = await asyncio.gather(
        *(act(client, case_id, "requery", f"ops-{i}") for i in range(5)),
        *(post_webhook(client, webhook_body(reference, "FAILED")) for _ in range(5)),
    )
    assert [a.status_code for a in answers] == [201] * 5 + [200] * 5  # no deadlock, no 5xx
    assert {a.json()["outcome"] for a in answers[5:]} == {"contradicting"}
    row = await topup_row(pool, reference)
    assert (row["status"], row["refunds"]) == ("completed", 0)
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert (await case_view(client, case_id))["status"] == "open"
