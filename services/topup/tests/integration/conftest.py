"""In-process topup app on the real test database, with Selcom faked by an httpx.MockTransport."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from betfuz_common import jsonio
from betfuz_common.settings import load_settings
from betfuz_common.signatures import sign
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer
from topup.app import create_app
from topup.config import TopupSettings
from topup.ports import TopupPorts

WEBHOOK_SECRET = "integration-webhook-secret"
# Answer codes by the number topped up (utilityref); anything else succeeds.
PROCESS_CODES = {"08030000002": "051", "08030000003": "111", "08030000005": "999"}


class FakeSelcom:
    """Counts calls per transid; process answers by number unless a test set an answer for the
    transid (HTTP status, body: how a re-submit is answered), query answers what a test set."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.query_answers: dict[str, dict[str, Any]] = {}
        self.process_answers: dict[str, tuple[int, dict[str, Any] | bytes]] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/process"):
            body = jsonio.loads(request.content)
            self.calls[("process", body["transid"])] += 1
            if body["transid"] in self.process_answers:
                status, answer = self.process_answers[body["transid"]]
                if isinstance(answer, bytes):
                    return httpx.Response(status, content=answer)
                return httpx.Response(status, json=answer)
            code = PROCESS_CODES.get(body["utilityref"], "000")
            return httpx.Response(200, json={"resultcode": code, "reference": "SEL-" + code})
        transid = request.url.params["transid"]
        self.calls[("query", transid)] += 1
        answer = self.query_answers.get(
            transid, {"resultcode": "000", "data": [{"status": "PENDING"}]}
        )
        return httpx.Response(200, json=answer)


def test_settings(database_url: str, **overrides: str) -> TopupSettings:
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "SELCOM_API_SECRET": f"{WEBHOOK_SECRET},older-secret",
        "SELCOM_BASE_URL": "https://selcom.test",
        "TOPUP_RECONCILE_INTERVAL_SECONDS": "0",
        **overrides,
    }
    return load_settings(TopupSettings, env)


@pytest.fixture(scope="session")
def selcom() -> FakeSelcom:
    return FakeSelcom()


@pytest.fixture(scope="session")
async def app(database_url: str, selcom: FakeSelcom) -> AsyncIterator[Starlette]:
    application = create_app(
        test_settings(database_url), selcom_transport=httpx.MockTransport(selcom.handler)
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def ports(app: Starlette) -> TopupPorts:
    ports: TopupPorts = app.state.ports
    return ports


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://topup.test") as http:
        yield http


async def buy(
    client: httpx.AsyncClient,
    user_id: str,
    *,
    phone: str = "+2348030000001",
    amount: int | str = 1000,
    key: str | None = None,
    **fields: Any,
) -> httpx.Response:
    headers = bearer(user_id)
    if key is not None:
        headers["Idempotency-Key"] = key
    body = {"phone": phone, "carrier": "mtn", "amount": amount, "type": "airtime", **fields}
    return await client.post("/topup", json=body, headers=headers)


def webhook_body(order_id: str, status: str = "FAILED", **extra: Any) -> bytes:
    payload = {
        "order_id": order_id,
        "status": status,
        "reference_id": "SELCOM-REF-789",
        "result_code": "0000" if status == "SUCCESS" else "0051",
        "result_description": "done",
        **extra,
    }
    return jsonio.dumps(payload)


async def post_webhook(
    client: httpx.AsyncClient,
    body: bytes,
    secret: str = WEBHOOK_SECRET,
    signature: str | None = None,
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-Selcom-Signature": signature
        if signature is not None
        else sign(body, secret.encode(), "sha256"),
    }
    return await client.post("/topup/webhook", content=body, headers=headers)
