"""Operations end to end: the service and the Selcom sandbox as processes, over real HTTP. A
topup past its SLA becomes a case; requery or refund resolves it; the audit names the proposer
and the approver."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import MakeUser, balance_of

from .conftest import Stack, buy

pytestmark = pytest.mark.e2e


def ops(user: str) -> dict[str, str]:
    return bearer(user, roles=("ops",))


async def stuck_past_sla(
    http: httpx.AsyncClient, stack: Stack, pool: asyncpg.Pool, user: str, phone: str
) -> dict[str, Any]:
    """A purchase Selcom leaves ambiguous (999), aged past the SLA, and out of the loop's
    queries: only the SLA sweep sees it, and only an ops action settles it."""
    created: dict[str, Any] = (await buy(http, stack, user, phone)).json()
    assert created["status"] == "pending"
    await pool.execute(
        "UPDATE topup.topup_transactions SET created_at = now() - interval '1 hour', "
        "next_check_at = now() + interval '1 day' WHERE id = $1",
        created["transactionId"],
    )
    return created


async def case_for(
    http: httpx.AsyncClient, stack: Stack, reference: str, within: float = 20
) -> dict[str, Any]:
    """The open sla_breached case about this topup, once the sweep has opened it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        page = await http.get(
            f"{stack.api}/topup/ops/cases", params={"limit": "100"}, headers=ops("ops-ada")
        )
        assert page.status_code == 200
        for case in page.json()["items"]:
            if case["kind"] == "sla_breached" and case["subject"] == reference:
                found: dict[str, Any] = case
                return found
        assert asyncio.get_running_loop().time() < deadline, "no case opened"
        await asyncio.sleep(0.2)


async def act(
    http: httpx.AsyncClient, stack: Stack, case_id: int, action: str, user: str = "ops-ada"
) -> httpx.Response:
    return await http.post(
        f"{stack.api}/topup/ops/cases/{case_id}/actions",
        json={"action": action, "reason": f"{action}: the customer called about it"},
        headers=ops(user),
    )


async def test_a_topup_past_its_sla_is_a_case_that_a_requery_resolves_with_selcoms_answer(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    created = await stuck_past_sla(http, stack, pool, user, "08030000005")  # query: SUCCESS
    case = await case_for(http, stack, created["reference"])
    assert case["refs"]["userId"] == user
    assert "requery" in case["allowedActions"]
    answer = await act(http, stack, case["id"], "requery")
    assert (answer.status_code, answer.json()["status"]) == (201, "applied")
    view = await http.get(f"{stack.api}/topup/{created['transactionId']}", headers=bearer(user))
    assert view.json()["status"] == "completed"
    assert await balance_of(pool, user) == Decimal("4000.00")
    detail = await http.get(f"{stack.api}/topup/ops/cases/{case['id']}", headers=ops("ops-ada"))
    assert (detail.json()["status"], detail.json()["resolution"]) == ("resolved", "requery")


async def test_a_refund_selcom_cannot_confirm_needs_a_second_ops_user_and_the_audit_names_both(
    stack: Stack, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    # The query lags ("not found") although Selcom has it: no final failure to refund on.
    created = await stuck_past_sla(http, stack, pool, user, "08030000011")
    case = await case_for(http, stack, created["reference"])
    proposed = await act(http, stack, case["id"], "refund")
    assert (proposed.status_code, proposed.json()["status"]) == (201, "proposed")
    action_id = proposed.json()["id"]
    approve = f"{stack.api}/topup/ops/actions/{action_id}/approve"
    own = await http.post(approve, json={}, headers=ops("ops-ada"))
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes")
    assert await balance_of(pool, user) == Decimal("4000.00")
    approvals = await asyncio.gather(
        *(http.post(approve, json={}, headers=ops(f"ops-{i}")) for i in range(20))
    )
    assert sorted(a.status_code for a in approvals) == [201] + [409] * 19
    assert await balance_of(pool, user) == Decimal("5000.00")
    refunds = await pool.fetch(
        "SELECT source FROM topup.refunds WHERE topup_id = $1", created["transactionId"]
    )
    assert [r["source"] for r in refunds] == ["ops"]
    approver = next(a.json()["decidedBy"] for a in approvals if a.status_code == 201)
    audit = await http.get(
        f"{stack.api}/topup/ops/audit", params={"limit": "100"}, headers=ops("ops-ada")
    )
    entries = {
        (e["actor"], e["request"]) for e in audit.json()["items"] if e["actionId"] == action_id
    }
    assert entries == {("ops-ada", "propose"), (approver, "approve")}
