"""What an API consumer sees: a typed client generated from each service's client document
(openapi-python-client), free of warnings, driving one real flow against the service.

Amounts reach the client exact: every Naira number comes with its integer kobo (`amountKobo`,
`balanceKobo`, `winAmountKobo`), which the generated models type as `int`, and the Naira
number itself is a `float` there. The flows check the kobo, and the ledger's shows why.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from betfuz_common.auth import issue_token
from betfuz_testing.tokens import TEST_JWT_SECRET
from betfuz_testing.wallets import MakeUser
from services.ledger.tests.integration.support import add_entry
from services.treasury.tests.support import deposit_payload, random_bvn, signed
from tests.clients.support import BASE_URL, SERVICES, GeneratedClient
from topup.domain import Carrier

pytestmark = pytest.mark.slow  # three clients generated (once per session)

Clients = dict[str, GeneratedClient]


@pytest.mark.parametrize("service", SERVICES)
def test_each_client_document_generates_a_typed_client_without_a_single_warning(
    generated: Clients, service: str
) -> None:
    client = generated[service]
    assert (client.returncode, client.printed) == (0, "")


@pytest.mark.parametrize("service", SERVICES)
def test_every_naira_amount_in_a_document_names_its_own_kobo_companion(
    generated: Clients, service: str
) -> None:
    schemas: dict[str, Any] = generated[service].document["components"]["schemas"]
    amounts = [
        (f"{model}.{name}", naira, f"{name}Kobo")
        for model, schema in schemas.items()
        for name, naira in schema.get("properties", {}).items()
        if f"{name}Kobo" in schema["properties"]
    ]
    assert amounts
    for where, naira, companion in amounts:
        texts = [branch.get("description", "") for branch in [naira, *naira.get("anyOf", [])]]
        assert any(companion in text for text in texts), (where, texts)


def test_an_enum_value_that_is_no_identifier_keeps_its_member_name_in_the_client(
    generated: Clients,
) -> None:
    models = generated["topup"].module("models")
    # Without the names in the document the generator numbers it: "9mobile" was VALUE_3.
    assert {(m.name, m.value) for m in models.Carrier} == {(m.name, m.value) for m in Carrier}


async def test_a_topup_bought_through_the_generated_client_reads_back_with_its_exact_kobo(
    generated: Clients, topup_app: Starlette, make_user: MakeUser
) -> None:
    topup = generated["topup"]
    models = topup.module("models")
    create, read = topup.module("api.topups.create_topup"), topup.module("api.topups.get_topup")
    order = models.TopupRequest(
        phone="+2348030000001",  # the sandbox's "succeeds at once" number
        carrier=models.Carrier.MTN,
        amount="100.10",  # the document allows a decimal string: no float on the way in
        type_=models.ProductType.AIRTIME,
    )
    user_id = await make_user(5000)
    async with topup.client(issue_token(TEST_JWT_SECRET, user_id), topup_app) as client:
        created = await create.asyncio_detailed(
            client=client, body=order, idempotency_key=f"clients-{uuid.uuid4().hex}"
        )
        assert created.status_code == 201, created.content
        assert isinstance(created.parsed, models.TopupCreated)
        view = await read.asyncio(created.parsed.transaction_id, client=client)

    assert isinstance(view, models.TopupView)
    assert type(view.amount_kobo) is int
    assert view.amount_kobo == 10010
    assert view.currency is models.Currency.NGN
    assert view.status is models.TopupStatus.COMPLETED
    assert (view.carrier, view.type_) == (models.Carrier.MTN, models.ProductType.AIRTIME)
    assert view.transaction_id == created.parsed.transaction_id
    assert view.created_at.tzinfo is not None


async def test_an_account_opened_through_the_generated_client_lists_a_deposit_to_the_kobo(
    generated: Clients, treasury_app: Starlette, make_user: MakeUser
) -> None:
    treasury = generated["treasury"]
    models = treasury.module("models")
    open_account = treasury.module("api.accounts.create_account")
    get_account = treasury.module("api.accounts.get_my_account")
    list_transactions = treasury.module("api.accounts.list_my_transactions")
    bvn = random_bvn()
    details = models.CreateAccountRequest(
        bvn=bvn,
        first_name="Adaeze",
        last_name="Okafor",
        phone_number="+2348012345678",
        email=f"{uuid.uuid4().hex[:12]}@example.com",
    )
    user_id = await make_user()
    async with treasury.client(issue_token(TEST_JWT_SECRET, user_id), treasury_app) as client:
        opened = await open_account.asyncio_detailed(client=client, body=details)
        assert opened.status_code == 201, opened.content
        account = opened.parsed
        assert isinstance(account, models.AccountView)
        assert (account.balance_kobo, account.status) == (0, models.AccountStatus.ACTIVE)

        await _deposit(treasury_app, account.account_number, "50000.50")

        page = await list_transactions.asyncio(client=client)
        read_back = await get_account.asyncio(client=client)

    assert isinstance(page, models.TransactionPage)
    assert (len(page.items), page.has_more, page.next_cursor) == (1, False, None)
    (deposit,) = page.items
    assert type(deposit.amount_kobo) is int
    assert deposit.amount_kobo == 5000050
    assert deposit.currency is models.Currency.NGN
    assert deposit.type_ is models.TransactionViewType.CREDIT
    assert deposit.status is models.TransactionViewStatus.COMPLETED
    assert isinstance(read_back, models.AccountView)
    assert (read_back.id, read_back.account_number) == (account.id, account.account_number)
    assert read_back.balance_kobo == 5000050
    assert read_back.bvn == "*******" + bvn[-4:]


async def _deposit(app: Starlette, account_number: str, amount: str) -> None:
    """Wema's signed deposit notification (the provider's document, not the client's)."""
    body, headers = signed(deposit_payload(account_number, amount))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        answer = await c.post("/treasury/webhook", content=body, headers=headers)
    assert (answer.status_code, answer.json()["status"]) == (200, "credited"), answer.text


async def test_a_ledger_entry_reaches_a_compliance_client_with_its_exact_kobo(
    generated: Clients, ledger_app: Starlette
) -> None:
    ledger = generated["ledger"]
    models = ledger.module("models")
    list_entries = ledger.module("api.ledger.list_ledger_entries")
    get_entry = ledger.module("api.ledger.get_ledger_entry")
    # Beyond 2**53 kobo: no float holds this amount, the kobo integer does.
    win, slip_id = Decimal("90071992547409.93"), f"bet_clients_{uuid.uuid4().hex[:12]}"
    await add_entry(ledger_app.state.pool, slip_id, win)
    token = issue_token(TEST_JWT_SECRET, "compliance-officer", roles=["compliance"])
    async with ledger.client(token, ledger_app) as client:
        page = await list_entries.asyncio(client=client, status=models.EntryStatus.CONFIRMED)
        entry = await get_entry.asyncio(slip_id, client=client)

    assert isinstance(page, models.EntryPage)
    assert [listed.bet_slip_id for listed in page.items] == [slip_id]
    assert isinstance(entry, models.EntryView)
    assert entry.to_dict() == page.items[0].to_dict()
    assert type(entry.win_amount_kobo) is int
    assert entry.win_amount_kobo == 9007199254740993
    assert Decimal(entry.win_amount) != win  # the Naira number, as the client types it
    assert entry.status is models.EntryStatus.CONFIRMED
    assert entry.currency is models.Currency.NGN
