import httpx

from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import MakeUser

from .conftest import buy


async def test_the_owner_reads_a_topup_and_anyone_else_gets_404(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, stranger = await make_user(5000), await make_user(0)
    created = (await buy(client, owner)).json()
    mine = await client.get(f"/topup/{created['transactionId']}", headers=bearer(owner))
    theirs = await client.get(f"/topup/{created['transactionId']}", headers=bearer(stranger))
    assert mine.status_code == 200
    view = mine.json()
    assert view["transactionId"] == created["transactionId"]
    assert (view["status"], view["amount"], view["carrier"], view["type"]) == (
        "completed",
        1000.0,
        "mtn",
        "airtime",
    )
    assert (view["amountKobo"], view["currency"]) == (100000, "NGN")
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"


async def test_the_list_is_the_callers_own_newest_first_in_pages(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, other = await make_user(10_000), await make_user(10_000)
    await buy(client, other)
    made = [
        (await buy(client, user, key=f"page-{i}", amount=100 + i)).json()["transactionId"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/topup", params=params, headers=bearer(user))).json()
        seen += [item["transactionId"] for item in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    assert pages == 3


async def test_a_forged_cursor_is_422(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    response = await client.get(
        "/topup", params={"cursor": "zzz"}, headers=bearer(await make_user(0))
    )
    assert response.status_code == 422


async def test_the_client_document_lists_every_topup_route_and_the_provider_one_the_callback(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/topup/openapi.json")).json()
    providers = (await client.get("/topup/providers/openapi.json")).json()
    assert {"/topup", "/topup/{transactionId}"} <= set(doc["paths"])
    assert set(doc["paths"]["/topup"]) == {"get", "post"}
    assert set(providers["paths"]) == {"/topup/webhook", "/topup/webhook/vtpass"}


async def test_a_cursor_from_someone_elses_page_still_lists_only_the_callers_topups(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, snooper = await make_user(5000), await make_user(5000)
    for key in ("a", "b"):
        await buy(client, owner, key=key)
    mine = (await buy(client, snooper)).json()["transactionId"]
    cursor = (await client.get("/topup", params={"limit": "1"}, headers=bearer(owner))).json()[
        "nextCursor"
    ]
    page = (await client.get("/topup", params={"cursor": cursor}, headers=bearer(snooper))).json()
    assert [item["transactionId"] for item in page["items"]] in ([], [mine])
    assert page["hasMore"] is False


async def test_the_documented_amount_bounds_are_the_configured_ones(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/topup/openapi.json")).json()
    amount = doc["components"]["schemas"]["TopupRequest"]["properties"]["amount"]
    naira = next(branch for branch in amount["anyOf"] if branch.get("type") != "null")
    number = next(branch for branch in naira["anyOf"] if branch["type"] == "number")
    assert (number["minimum"], number["maximum"]) == (50, 50000)
