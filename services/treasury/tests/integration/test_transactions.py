import asyncpg

from betfuz_testing.tokens import bearer
from services.treasury.tests.support import (
    AppClient,
    NewUser,
    OpenAccount,
    days_ago,
    deposit_payload,
    signed,
)


async def test_the_history_pages_newest_first_with_an_opaque_cursor(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount, pool: asyncpg.Pool
) -> None:
    user = await new_user()
    async with app_client() as client:
        account = await open_account(client, user)
        sent = []
        for day in range(1, 6):
            payload = deposit_payload(
                account["accountNumber"], str(day), transaction_date=days_ago(6 - day)
            )
            body, headers = signed(payload)
            await client.post("/treasury/webhook", content=body, headers=headers)
            sent.append(payload["transaction_reference"])
        pages, cursor = [], None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = await client.get(
                "/treasury/accounts/me/transactions", params=params, headers=bearer(user)
            )
            assert page.status_code == 200
            pages.append([item["transactionReference"] for item in page.json()["items"]])
            cursor = page.json()["nextCursor"]
            if cursor is None:
                break
    assert pages == [sent[4:2:-1], sent[2:0:-1], sent[0:1]]


async def test_an_account_with_no_deposits_has_an_empty_history(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount
) -> None:
    user = await new_user()
    async with app_client() as client:
        await open_account(client, user)
        page = await client.get("/treasury/accounts/me/transactions", headers=bearer(user))
    assert page.json() == {"items": [], "nextCursor": None, "hasMore": False}


async def test_history_before_an_account_exists_is_404(
    app_client: AppClient, new_user: NewUser
) -> None:
    user = await new_user()
    async with app_client() as client:
        page = await client.get("/treasury/accounts/me/transactions", headers=bearer(user))
    assert page.status_code == 404


async def test_a_bad_limit_or_cursor_is_422(
    app_client: AppClient, new_user: NewUser, open_account: OpenAccount
) -> None:
    user = await new_user()
    async with app_client() as client:
        await open_account(client, user)
        answers = [
            await client.get(
                "/treasury/accounts/me/transactions", params=params, headers=bearer(user)
            )
            for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "%%%"})
        ]
    assert [a.status_code for a in answers] == [422] * 4
    assert answers[3].json()["errors"][0]["field"] == "cursor"
