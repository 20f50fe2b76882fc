"""With a state file, the Wema sandbox started again still has every account and deposit it
made: the chaos test SIGKILLs it, and a bank never forgets a transfer."""

from __future__ import annotations

from pathlib import Path

import httpx

from betfuz_common import jsonio
from betfuz_common.signatures import sign
from sandboxes.wema.server import SandboxConfig, create_app

KEY, SECRET = "state-test-key", b"state-test-secret"


def client(state: Path) -> httpx.AsyncClient:
    config = SandboxConfig(
        api_key=KEY, secrets=[SECRET], webhook_url="http://127.0.0.1:9/none", state_path=state
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(create_app(config)), base_url="http://w")


async def open_account(wema: httpx.AsyncClient, reference: str) -> dict[str, str]:
    body = jsonio.dumps(
        {"reference": reference, "bvn": "12345678901", "firstName": "Ada", "lastName": "Obi",
         "email": "ada@example.com"}
    )  # fmt: skip
    headers = {"x-api-key": KEY, "x-wema-signature": sign(body, SECRET, "sha512")}
    response = await wema.post("/v1/virtual-accounts", content=body, headers=headers)
    assert response.status_code == 200, response.text
    account: dict[str, str] = response.json()["data"]
    return account


async def listing(wema: httpx.AsyncClient) -> list[dict[str, object]]:
    response = await wema.get(
        "/v1/transactions",
        params={"from": "2000-01-01T00:00:00+00:00", "to": "2100-01-01T00:00:00+00:00"},
        headers={"x-api-key": KEY},
    )
    items: list[dict[str, object]] = jsonio.loads(response.content)["data"]["items"]
    return items


async def test_a_restarted_sandbox_lists_every_deposit_and_keeps_every_account_it_made(
    tmp_path: Path,
) -> None:
    state = tmp_path / "wema.json"
    async with client(state) as first:
        account = await open_account(first, "ref-1")
        order = {"account_number": account["accountNumber"], "amount": "1500.50",
                 "deposits": 3, "notify": False}  # fmt: skip
        made = await first.post("/_sandbox/deposits", content=jsonio.dumps(order))
        assert made.status_code == 200, made.text
        before = await listing(first)

    async with client(state) as again:  # a new process: nothing shared but the file
        assert await listing(again) == before
        assert len(before) == 3
        assert await open_account(again, "ref-1") == account  # same reference, same account
