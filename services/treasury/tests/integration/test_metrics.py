"""Treasury's metrics on the app's own registry: what the dashboard's deposits panel reads."""

from __future__ import annotations

from decimal import Decimal

import httpx
from prometheus_client import CollectorRegistry

from services.treasury.tests.support import NewUser, OpenAccount, deposit_payload, post_deposit
from treasury.app import create_app
from treasury.config import TreasurySettings


def deposits(registry: CollectorRegistry, outcome: str) -> float | None:
    labels = {"source": "webhook", "outcome": outcome}
    return registry.get_sample_value("treasury_deposits_total", labels)


async def test_webhook_deposits_are_counted_by_outcome_on_the_apps_registry(
    settings: TreasurySettings,
    sandbox_transport: httpx.AsyncBaseTransport,
    new_user: NewUser,
    open_account: OpenAccount,
) -> None:
    app = create_app(settings, wema_transport=sandbox_transport)
    registry: CollectorRegistry = app.state.metrics.registry
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://betfuz.test") as client:
            account = await open_account(client, await new_user(Decimal(0)))
            payload = deposit_payload(account["accountNumber"], "2500")
            answers = [await post_deposit(client, payload) for _ in range(3)]
    assert [answer.json()["status"] for answer in answers] == ["credited", "duplicate", "duplicate"]
    assert deposits(registry, "credited") == 1
    assert deposits(registry, "duplicate") == 2
