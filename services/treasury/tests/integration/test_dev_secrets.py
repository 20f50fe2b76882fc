from decimal import Decimal

import httpx

from betfuz_common import jsonio
from betfuz_common.settings import load_settings
from betfuz_common.signatures import sign
from betfuz_testing.tokens import bearer
from sandboxes.wema.server import SandboxConfig
from sandboxes.wema.server import create_app as create_sandbox
from services.treasury.tests.support import (
    AppClient,
    NewUser,
    account_body,
    deposit_payload,
    settings_env,
)
from treasury.config import TreasurySettings


async def test_a_custom_wema_key_and_secret_set_once_work_for_the_service_and_the_sandbox(
    database_url: str, app_client: AppClient, new_user: NewUser
) -> None:
    # One environment, as `make run` hands it to every process: neither side keeps its own.
    env = {
        **settings_env(database_url),
        "WEMA_API_KEY": "my-own-wema-api-key",
        "WEMA_SECRET_KEY": "my-own-wema-signing-secret",
    }
    sandbox = httpx.ASGITransport(app=create_sandbox(SandboxConfig.from_env(env)))
    settings = load_settings(TreasurySettings, env)
    user = await new_user()
    async with app_client(settings, wema_transport=sandbox) as client:
        created = await client.post("/treasury/accounts", json=account_body(), headers=bearer(user))
        assert created.status_code == 201, created.text
        # Signed as the sandbox signs its deposits: with the first secret it holds.
        body = jsonio.dumps(deposit_payload(created.json()["accountNumber"], "250"))
        signature = sign(body, SandboxConfig.from_env(env).secrets[0], "sha512")
        deposit = await client.post(
            "/treasury/webhook",
            content=body,
            headers={"content-type": "application/json", "x-wema-signature": signature},
        )
        me = await client.get("/treasury/accounts/me", headers=bearer(user))
    assert deposit.json()["status"] == "credited"
    assert Decimal(str(me.json()["balance"])) == Decimal(250)
