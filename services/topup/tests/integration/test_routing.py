"""Two providers behind one port: routing, failover only on a provable non-acceptance, the
breaker, reconciliation and notifications asking the provider each topup recorded, data plans.
Real PostgreSQL; Selcom and VTpass faked by httpx.MockTransport."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from betfuz_common import jsonio
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import MakeUser, balance_of
from topup.catalogue import Catalogue
from topup.metrics import TopupMetrics
from topup.ports import TopupPorts
from topup.reconcile import ReconcileConfig, reconcile_once
from topup.routing import Router

from .conftest import FakeSelcom
from .conftest import test_settings as settings_for

ROUTES = ";".join(
    f"{c}:airtime=vtpass,selcom;{c}:data=vtpass" for c in ("mtn", "airtel", "glo")
) + ";9mobile:airtime=selcom;9mobile:data=selcom"  # fmt: skip
PLANS = [
    {"variation_code": "mtn-10mb-100", "name": "N100 100MB - 24 hrs",
     "variation_amount": "100.00", "fixedPrice": "Yes"},
    {"variation_code": "mtn-3gb-3500", "name": "N3500 10GB - 30 days",
     "variation_amount": "3500.00", "fixedPrice": "Yes"},
]  # fmt: skip
Answer = Callable[[httpx.Request], httpx.Response]


def body(code: str, status: str | None = None) -> Answer:
    content = {"transactions": {"status": status, "transactionId": "VT-1"}} if status else {}
    return lambda _: httpx.Response(200, json={"code": code, "content": content})


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def time_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


class FakeVtpass:
    """Pay answers by phone (national form), requery answers by request_id; counts calls."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.pay: dict[str, Answer] = {}
        self.requery: dict[str, Answer] = {}
        self.variation_fetches = 0
        self.seen: list[dict[str, Any]] = []
        self.plans = PLANS

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/service-variations":
            self.variation_fetches += 1
            return httpx.Response(200, json={"content": {"variations": self.plans}})
        fields = jsonio.loads(request.content)
        self.calls[(request.url.path, fields["request_id"])] += 1
        if request.url.path == "/api/pay":
            self.seen.append(fields)
            return self.pay.get(fields["phone"], body("000", "delivered"))(request)
        return self.requery.get(fields["request_id"], body("000", "pending"))(request)


class Selcom(FakeSelcom):
    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.by_phone: dict[str, Answer] = {}  # process answers by number (national form)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path.endswith("/process"):
            fields = jsonio.loads(request.content)
            if fields["utilityref"] in self.by_phone:
                self.calls[("process", fields["transid"])] += 1
                return self.by_phone[fields["utilityref"]](request)
        return super().handler(request)


@pytest.fixture(scope="module")
def vtpass() -> FakeVtpass:
    return FakeVtpass()


@pytest.fixture(scope="module")
def selcom2() -> Selcom:
    return Selcom()


@pytest.fixture(scope="module")
async def routed(
    database_url: str, vtpass: FakeVtpass, selcom2: Selcom
) -> AsyncIterator[Starlette]:
    settings = settings_for(
        database_url,
        TOPUP_ROUTES=ROUTES,
        TOPUP_BREAKER_THRESHOLD="1000",  # one test below drives its own breaker
        TOPUP_RECONCILE_AFTER_SECONDS="0",
        VTPASS_BASE_URL="https://vtpass.test",
    )
    application = create(settings, selcom2, vtpass)
    async with application.router.lifespan_context(application):
        yield application


def create(settings: Any, selcom: Selcom, vtpass: FakeVtpass) -> Starlette:
    from topup.app import create_app

    return create_app(
        settings,
        selcom_transport=httpx.MockTransport(selcom.handler),
        vtpass_transport=httpx.MockTransport(vtpass.handler),
    )


@pytest.fixture
def ports(routed: Starlette) -> TopupPorts:
    ports: TopupPorts = routed.state.ports
    return ports


@pytest.fixture
async def http(routed: Starlette, selcom2: Selcom) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=routed)
    async with httpx.AsyncClient(transport=transport, base_url="http://topup.test") as client:
        yield client
    selcom2.down = False


async def buy(http: httpx.AsyncClient, user: str, phone: str, **fields: Any) -> httpx.Response:
    order = {"phone": phone, "carrier": "mtn", "amount": 500, "type": "airtime", **fields}
    return await http.post("/topup", json=order, headers=bearer(user))


async def row(pool: asyncpg.Pool, topup_id: str) -> asyncpg.Record:
    found = await pool.fetchrow("SELECT * FROM topup.topup_transactions WHERE id = $1", topup_id)
    assert found is not None
    return found


async def refunds(pool: asyncpg.Pool, topup_id: str) -> int:
    count = await pool.fetchval("SELECT count(*) FROM topup.refunds WHERE topup_id = $1", topup_id)
    return int(count)


async def test_airtime_goes_to_the_first_provider_of_its_route_under_a_lagos_request_id(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, selcom2: Selcom
) -> None:
    user = await make_user(2000)
    response = await buy(http, user, "08061110001")
    assert response.json()["status"] == "completed"
    saved = await row(pool, response.json()["transactionId"])
    assert saved["provider"] == "vtpass"
    assert re.fullmatch(r"20\d{10}" + saved["reference"], saved["provider_reference"])
    assert saved["external_reference"] == "VT-1"
    assert not any(ref == saved["reference"] for _, ref in selcom2.calls)
    assert await balance_of(pool, user) == Decimal("1500.00")


@pytest.mark.parametrize(
    ("phone", "answer"),
    [
        ("08061110002", body("091")),
        ("08061110003", refuse_connection),
        ("08061110004", body("018")),
    ],
    ids=["not-processed-091", "connection-refused", "low-wallet-018"],
)  # fmt: skip
async def test_a_provable_non_acceptance_fails_over_to_the_next_provider_with_one_debit(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    vtpass: FakeVtpass,
    selcom2: Selcom,
    phone: str,
    answer: Answer,
) -> None:
    vtpass.pay[phone] = answer
    user = await make_user(2000)
    response = await buy(http, user, phone)
    assert response.json()["status"] == "completed"
    saved = await row(pool, response.json()["transactionId"])
    assert (saved["provider"], saved["provider_reference"]) == ("selcom", saved["reference"])
    assert saved["metadata"]["refused_by"] == ["vtpass"]
    assert selcom2.calls[("process", saved["reference"])] == 1
    assert await balance_of(pool, user) == Decimal("1500.00")  # debited once


@pytest.mark.parametrize(
    ("phone", "answer"),
    [
        ("08061110011", time_out),
        ("08061110012", lambda _: httpx.Response(503, json={"code": "091"})),
        ("08061110013", body("X99")),
        ("08061110014", body("099")),
        ("08061110015", body("014")),
        ("08061110016", lambda _: httpx.Response(200, content=b"<html>")),
    ],
    ids=["timeout", "5xx-saying-not-processed", "unknown-code", "processing", "duplicate",
         "unreadable"],
)  # fmt: skip
async def test_no_failover_after_a_timeout_a_5xx_or_an_answer_we_do_not_know(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    vtpass: FakeVtpass,
    selcom2: Selcom,
    phone: str,
    answer: Answer,
) -> None:
    vtpass.pay[phone] = answer
    user = await make_user(2000)
    response = await buy(http, user, phone)
    assert response.json()["status"] == "pending"
    saved = await row(pool, response.json()["transactionId"])
    assert saved["provider"] == "vtpass"
    assert selcom2.calls[("process", saved["reference"])] == 0
    assert await balance_of(pool, user) == Decimal("1500.00")
    assert await refunds(pool, saved["id"]) == 0


async def test_refused_by_every_provider_is_a_failure_refunded_once(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, vtpass: FakeVtpass,
    selcom2: Selcom,
) -> None:  # fmt: skip
    vtpass.pay["08061110021"] = body("091")
    selcom2.down = True
    user = await make_user(2000)
    response = await buy(http, user, "08061110021")
    assert response.json()["status"] == "failed"
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert await refunds(pool, response.json()["transactionId"]) == 1


async def test_a_definitive_vtpass_failure_is_refunded_and_never_sent_elsewhere(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, vtpass: FakeVtpass,
    selcom2: Selcom,
) -> None:  # fmt: skip
    vtpass.pay["08061110022"] = body("000", "failed")
    user = await make_user(2000)
    response = await buy(http, user, "08061110022")
    assert response.json()["status"] == "failed"
    saved = await row(pool, response.json()["transactionId"])
    assert selcom2.calls[("process", saved["reference"])] == 0
    assert await balance_of(pool, user) == Decimal("2000.00")
    assert await refunds(pool, saved["id"]) == 1


async def test_an_open_breaker_skips_vtpass_without_calling_it(
    routed: Starlette, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser,
    vtpass: FakeVtpass, ports: TopupPorts,
) -> None:  # fmt: skip
    metrics: TopupMetrics = ports.metrics
    routed.state.ports = dataclasses.replace(
        ports, router=Router(ports.router.routes, metrics, threshold=2, cooldown_seconds=300)
    )
    try:
        vtpass.pay["08061110031"] = body("091")
        user = await make_user(5000)
        for amount in (500, 600):  # two purchases (not a replay of one)
            bought = await buy(http, user, "08061110031", amount=amount)
            assert bought.json()["status"] == "completed"
        before = sum(n for (path, _), n in vtpass.calls.items() if path == "/api/pay")
        skipped = await buy(http, user, "08061110032")
        after = sum(n for (path, _), n in vtpass.calls.items() if path == "/api/pay")
        assert skipped.json()["status"] == "completed"
        assert after == before  # VTpass not even asked
        assert (await row(pool, skipped.json()["transactionId"]))["provider"] == "selcom"
        # Data has no other provider on its route: refused before any debit, 503.
        refused = await buy(
            http, user, "08061110033", type="data", productCode="mtn-10mb-100", amount=None
        )
        assert (refused.status_code, refused.json()["code"]) == (503, "provider_unavailable")
        assert await balance_of(pool, user) == Decimal("3400.00")
    finally:
        routed.state.ports = ports


async def test_reconciliation_and_requery_ask_the_provider_the_topup_recorded(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, vtpass: FakeVtpass,
    selcom2: Selcom, ports: TopupPorts,
) -> None:  # fmt: skip
    vtpass.pay["08061110041"] = body("099")
    user = await make_user(2000)
    created = (await buy(http, user, "08061110041")).json()
    saved = await row(pool, created["transactionId"])
    vtpass.requery[saved["provider_reference"]] = body("000", "delivered")
    await reconcile_once(ports, ReconcileConfig(after_seconds=0))
    assert (await row(pool, saved["id"]))["status"] == "completed"
    assert vtpass.calls[("/api/requery", saved["provider_reference"])] >= 1
    assert selcom2.calls[("query", saved["reference"])] == 0
    # Never seen by VTpass: re-submitted to VTpass with the SAME request_id, never failed over.
    vtpass.pay["08061110042"] = time_out
    lost = (await buy(http, user, "08061110042")).json()
    lost_row = await row(pool, lost["transactionId"])
    vtpass.requery[lost_row["provider_reference"]] = body("015")
    vtpass.pay["08061110042"] = body("000", "delivered")
    await reconcile_once(ports, ReconcileConfig(after_seconds=0))
    assert (await row(pool, lost["transactionId"]))["status"] == "completed"
    assert vtpass.calls[("/api/pay", lost_row["provider_reference"])] == 2
    assert selcom2.calls[("process", lost_row["reference"])] == 0
    assert await balance_of(pool, user) == Decimal("1000.00")


def notification(request_id: str, status: str) -> dict[str, Any]:
    transactions = {"status": status, "transactionId": "VT-9"}
    return {
        "type": "transaction-update",
        "data": {"code": "000", "content": {"transactions": transactions}, "requestId": request_id},
    }


async def test_an_unsigned_notification_settles_only_through_the_requery(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, vtpass: FakeVtpass
) -> None:
    vtpass.pay["08061110051"] = body("099")
    user = await make_user(2000)
    created = (await buy(http, user, "08061110051")).json()
    request_id = (await row(pool, created["transactionId"]))["provider_reference"]
    # A forged "failed" while VTpass says pending: nothing moves.
    forged = await http.post("/topup/webhook/vtpass", json=notification(request_id, "failed"))
    assert forged.status_code == 200
    assert forged.json() == {"response": "success", "outcome": "noted"}
    assert (await row(pool, created["transactionId"]))["status"] == "pending"
    assert await balance_of(pool, user) == Decimal("1500.00")
    vtpass.requery[request_id] = body("000", "delivered")
    real = await http.post("/topup/webhook/vtpass", json=notification(request_id, "delivered"))
    assert real.json()["outcome"] == "applied"
    assert (await row(pool, created["transactionId"]))["status"] == "completed"
    again = await http.post("/topup/webhook/vtpass", json=notification(request_id, "delivered"))
    assert again.json()["outcome"] == "duplicate"
    kept = await pool.fetch(
        "SELECT outcome, provider FROM topup.webhook_events WHERE order_id = $1 ORDER BY id",
        request_id,
    )
    assert [(r["outcome"], r["provider"]) for r in kept] == [
        ("noted", "vtpass"), ("applied", "vtpass"), ("duplicate", "vtpass")
    ]  # fmt: skip
    assert await balance_of(pool, user) == Decimal("1500.00")


async def test_reversed_after_delivered_is_flagged_and_moves_no_money(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, vtpass: FakeVtpass
) -> None:
    user = await make_user(2000)
    created = (await buy(http, user, "08061110061")).json()
    assert created["status"] == "completed"
    request_id = (await row(pool, created["transactionId"]))["provider_reference"]
    vtpass.requery[request_id] = body("000", "reversed")
    answer = await http.post("/topup/webhook/vtpass", json=notification(request_id, "reversed"))
    assert answer.json()["outcome"] == "contradicting"
    saved = await row(pool, created["transactionId"])
    assert (saved["status"], saved["review_flag"]) == ("completed", "contradicting_status")
    assert await refunds(pool, saved["id"]) == 0
    assert await balance_of(pool, user) == Decimal("1500.00")


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "transaction-update", "data": {"requestId": "202501011200TOPNOPE"}},
        {"data": {"code": "000"}},
        {"data": {"requestId": ""}},
        {"data": {"requestId": "x" * 129}},
        {"data": {"requestId": "2025\u0000TOP"}},
        {"data": {"requestId": "202501011200\u202eTOP"}},
        {"data": {"requestId": 202501011200}},
        {"data": {"requestId": "202501011200TOP", "content": {"transactions": {"status": 5}}}},
        [],
    ],
    ids=[
        "unknown",
        "no-request-id",
        "empty",
        "too-long",
        "nul",
        "bidi-control",
        "a-number",
        "odd-status",
        "not-an-object",
    ],
)
async def test_a_notification_naming_no_topup_of_ours_writes_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool, payload: Any
) -> None:
    before = await pool.fetchval("SELECT count(*) FROM topup.webhook_events")
    answer = await http.post("/topup/webhook/vtpass", json=payload)
    if answer.status_code == 200:
        assert answer.json()["outcome"] == "unknown_reference"
    else:
        assert answer.status_code in (400, 422)
    assert await pool.fetchval("SELECT count(*) FROM topup.webhook_events") == before


async def test_products_list_the_routed_providers_plans(http: httpx.AsyncClient) -> None:
    answer = await http.get("/topup/products?carrier=mtn&type=data", headers=bearer("u-products"))
    assert answer.status_code == 200
    listed = answer.json()
    assert (listed["carrier"], listed["byAmount"]) == ("mtn", False)
    assert listed["products"][0] == {
        "productCode": "mtn-10mb-100",
        "name": "N100 100MB - 24 hrs",
        "price": 100,
        "priceKobo": 10000,
        "currency": "NGN",
        "validity": "24 hrs",
    }
    by_amount = await http.get("/topup/products?carrier=9mobile", headers=bearer("u-products"))
    assert (by_amount.json()["byAmount"], by_amount.json()["products"]) == (True, [])
    for bad in ("carrier=MTN", "carrier=mtn&type=sms", "carrier=mtn&extra=1", ""):
        refused = await http.get(f"/topup/products?{bad}", headers=bearer("u-products"))
        assert refused.status_code in (400, 422), bad


async def test_a_data_plan_is_debited_its_price_and_sent_with_its_variation(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, vtpass: FakeVtpass
) -> None:
    user = await make_user(5000)
    response = await buy(http, user, "08061110071", type="data", productCode="mtn-3gb-3500",
                         amount=None)  # fmt: skip
    assert response.status_code == 201, response.text
    saved = await row(pool, response.json()["transactionId"])
    assert (saved["amount"], saved["product_code"]) == (Decimal("3500.00"), "mtn-3gb-3500")
    assert await balance_of(pool, user) == Decimal("1500.00")
    sent = next(f for f in vtpass.seen if f["request_id"] == saved["provider_reference"])
    assert (sent["serviceID"], sent["variation_code"]) == ("mtn-data", "mtn-3gb-3500")
    same_price = await buy(http, user, "08061110072", type="data", productCode="mtn-10mb-100",
                           amount="100.00")  # fmt: skip
    assert same_price.status_code == 201
    assert await balance_of(pool, user) == Decimal("1400.00")


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"type": "data", "productCode": "mtn-3gb-3500", "amount": 3000}, 422, "price_mismatch"),
        ({"type": "data", "productCode": "mtn-nope"}, 422, "unknown_product"),
        ({"type": "data", "amount": 1000}, 422, "product_code_required"),
        ({"type": "airtime", "productCode": "mtn-10mb-100"}, 422, "product_code_not_allowed"),
        ({"type": "data", "productCode": "mtn 3gb"}, 422, "validation_failed"),
        ({"type": "data", "productCode": "x" * 65}, 422, "validation_failed"),
        ({"type": "data", "amount": None}, 422, "validation_failed"),
    ],
    ids=["wrong-price", "unknown-plan", "bare-amount-on-a-plan-route", "airtime-with-plan",
         "bad-code-chars", "code-too-long", "neither"],
)  # fmt: skip
async def test_a_wrong_data_order_is_refused_and_writes_nothing(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    fields: dict[str, Any],
    status: int,
    code: str,
) -> None:
    user = await make_user(5000)
    order = {"phone": "08061110081", "carrier": "mtn", **fields}
    order.setdefault("amount", None)
    if order["amount"] is None:
        del order["amount"]
    response = await http.post("/topup", json=order, headers=bearer(user))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await balance_of(pool, user) == Decimal("5000.00")
    rows = await pool.fetchval(
        "SELECT count(*) FROM topup.topup_transactions WHERE user_id = $1", user
    )
    assert rows == 0


async def test_amount_only_data_still_goes_to_a_provider_that_sells_data_by_amount(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    user = await make_user(5000)
    order = {"phone": "08091110001", "carrier": "9mobile", "amount": 700, "type": "data"}
    response = await http.post("/topup", json=order, headers=bearer(user))
    assert response.json()["status"] == "completed"
    assert (await row(pool, response.json()["transactionId"]))["provider"] == "selcom"
    assert await balance_of(pool, user) == Decimal("4300.00")


# --- a property over sequences of answers from the two providers -----------------------------

REFUSALS = {"091", "018", "refused"}
VTPASS_PAY: dict[str, Answer] = {
    "delivered": body("000", "delivered"),
    "failed": body("000", "failed"),
    "016": body("016"),
    "091": body("091"),
    "018": body("018"),
    "refused": refuse_connection,
    "timeout": time_out,
    "503": lambda _: httpx.Response(503, json={"code": "091"}),
    "X99": body("X99"),
    "099": body("099"),
}
SELCOM_PAY: dict[str, Answer] = {
    "000": lambda _: httpx.Response(200, json={"resultcode": "000"}),
    "051": lambda _: httpx.Response(200, json={"resultcode": "051"}),
    "111": lambda _: httpx.Response(200, json={"resultcode": "111"}),
    "refused": refuse_connection,
    "timeout": time_out,
}
REQUERY = ["delivered", "failed", "pending", "never-seen"]


def vtpass_requery(said: str) -> Answer:
    return body("015") if said == "never-seen" else body("000", said)


def selcom_query(said: str) -> dict[str, Any]:
    if said == "never-seen":
        return {"resultcode": "404"}
    status = {"delivered": "SUCCESS", "failed": "FAILED", "pending": "PENDING"}[said]
    return {"resultcode": "000", "data": [{"status": status}]}


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    first=st.sampled_from(sorted(VTPASS_PAY)),
    second=st.sampled_from(sorted(SELCOM_PAY)),
    later=st.lists(st.sampled_from(REQUERY), max_size=3),
)
async def test_airtime_reaches_a_second_provider_only_after_a_provable_refusal_and_moves_money_once(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    vtpass: FakeVtpass,
    selcom2: Selcom,
    ports: TopupPorts,
    first: str,
    second: str,
    later: list[str],
) -> None:
    phone = "0806" + str(uuid.uuid4().int)[:7]
    vtpass.pay[phone] = VTPASS_PAY[first]
    selcom2.by_phone[phone] = SELCOM_PAY[second]
    user = await make_user(2000)
    created = await buy(http, user, phone)
    assert created.status_code == 201, created.text
    topup_id = created.json()["transactionId"]
    saved = await row(pool, topup_id)
    reference = saved["reference"]
    # Later answers, whichever provider has it: each asked through reconciliation.
    for said in later:
        vtpass.requery[saved["provider_reference"]] = vtpass_requery(said)
        selcom2.query_answers[reference] = selcom_query(said)
        await pool.execute(
            "UPDATE topup.topup_transactions SET next_check_at = now() WHERE id = $1", topup_id
        )
        await reconcile_once(ports, ReconcileConfig(after_seconds=0))
    final = await row(pool, topup_id)
    selcom_calls = selcom2.calls[("process", reference)]
    if first not in REFUSALS:
        assert selcom_calls == 0, (first, second, later)
        assert final["provider"] == "vtpass"
    else:
        assert selcom_calls >= 1
        assert final["provider"] == "selcom"
    refunded = await refunds(pool, topup_id)
    expected = Decimal("2000.00") if final["status"] == "failed" else Decimal("1500.00")
    assert await balance_of(pool, user) == expected  # debited once, refunded at most once
    assert refunded == (1 if final["status"] == "failed" else 0)
    count = await pool.fetchval(
        "SELECT count(*) FROM topup.topup_transactions WHERE user_id = $1", user
    )
    assert count == 1


async def test_twenty_concurrent_copies_of_a_failed_over_purchase_debit_and_deliver_once(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, vtpass: FakeVtpass,
    selcom2: Selcom,
) -> None:  # fmt: skip
    phone = "08061110091"
    vtpass.pay[phone] = body("091")
    user = await make_user(2000)
    order = {"phone": phone, "carrier": "mtn", "amount": 500, "type": "airtime"}
    headers = {**bearer(user), "Idempotency-Key": "failover-" + uuid.uuid4().hex}
    answers = await asyncio.gather(
        *(http.post("/topup", json=order, headers=headers) for _ in range(20))
    )
    assert {a.status_code for a in answers} <= {201, 409}
    created = {a.json()["transactionId"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    saved = await row(pool, created.pop())
    assert saved["provider"] == "selcom"
    assert vtpass.calls[("/api/pay", saved["provider_reference"])] == 0  # its id is Selcom's now
    assert sum(n for (path, _), n in vtpass.calls.items() if path == "/api/pay") >= 1
    assert selcom2.calls[("process", saved["reference"])] == 1
    assert await balance_of(pool, user) == Decimal("1500.00")


async def test_a_crash_after_the_failover_was_recorded_is_finished_by_the_next_provider(
    http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser, vtpass: FakeVtpass,
    selcom2: Selcom, ports: TopupPorts,
) -> None:  # fmt: skip
    # VTpass refuses; the move to Selcom is recorded; then the process dies before Selcom's
    # answer (here: the call raises, which leaves the same state: pending, with Selcom).
    phone = "08061110092"
    vtpass.pay[phone] = body("091")

    def crash(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("process killed")

    selcom2.by_phone[phone] = crash
    user = await make_user(2000)
    created = (await buy(http, user, phone)).json()
    assert created["status"] == "pending"
    saved = await row(pool, created["transactionId"])
    assert saved["provider"] == "selcom"
    # Selcom never saw it: the next tick asks Selcom (not VTpass), re-submits there, settles.
    selcom2.query_answers[saved["reference"]] = {"resultcode": "404"}
    del selcom2.by_phone[phone]
    await pool.execute(
        "UPDATE topup.topup_transactions SET next_check_at = now() WHERE id = $1", saved["id"]
    )
    await reconcile_once(ports, ReconcileConfig(after_seconds=0))
    assert (await row(pool, saved["id"]))["status"] == "completed"
    assert selcom2.calls[("query", saved["reference"])] == 1
    assert await balance_of(pool, user) == Decimal("1500.00")


async def test_a_repeat_of_a_plan_purchase_is_replayed_even_after_the_plan_changed(
    routed: Starlette, http: httpx.AsyncClient, pool: asyncpg.Pool, make_user: MakeUser,
    vtpass: FakeVtpass, ports: TopupPorts,
) -> None:  # fmt: skip
    user = await make_user(5000)
    order = {"phone": "08061110101", "carrier": "mtn", "type": "data",
             "productCode": "mtn-10mb-100", "amount": 100}  # fmt: skip
    headers = {**bearer(user), "Idempotency-Key": "plan-" + uuid.uuid4().hex}
    first = await http.post("/topup", json=order, headers=headers)
    assert first.status_code == 201
    # The price moves and the cache is gone: the same request again is the same purchase.
    routed.state.ports = dataclasses.replace(ports, catalogue=Catalogue(0))
    vtpass.plans = [{**PLANS[0], "variation_amount": "120.00"}, PLANS[1]]
    try:
        again = await http.post("/topup", json=order, headers=headers)
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["transactionId"] == first.json()["transactionId"]
        new = await http.post(
            "/topup", json=order, headers={**bearer(user), "Idempotency-Key": "plan-new"}
        )
        assert (new.status_code, new.json()["code"]) == (422, "price_mismatch")
    finally:
        routed.state.ports = ports
        vtpass.plans = PLANS
    assert await balance_of(pool, user) == Decimal("4900.00")
