"""The treasury HTTP edge: module-level functions, each parse → service → response.

`api` is the client document (/treasury/openapi.json); `providers` the provider-facing one
(/treasury/providers/openapi.json) with Wema's deposit notification.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request

from betfuz_common import idempotency, webhooks
from betfuz_common.api import Api, Reply, Webhook, caller, ports_of, provider_api
from betfuz_common.auth import requires
from betfuz_common.errors import WalletNotFound
from betfuz_common.pagination import PageQuery, page_of
from treasury import errors, schemas, service
from treasury.ports import TreasuryPorts
from treasury.provider import ProviderError, ProviderRejected, ProviderTimeout

api = Api(
    title="Betfuz treasury",
    description="BVN-linked Wema Bank virtual accounts (one per user) and their deposits.",
    tag="Accounts",
    auth=requires(),
)
providers = provider_api("treasury", "Wema Bank", "its deposit notification")
WEMA_DEPOSIT = Webhook(
    "X-Wema-Signature", schemas.DepositNotification, "hex HMAC-SHA512 of the raw body"
)
OPENING_REFUSALS = (
    WalletNotFound,
    errors.AccountExists,
    errors.CreationInProgress,
    errors.BvnUnavailable,
    ProviderRejected,
    ProviderTimeout,
    ProviderError,
)
ACCOUNT_HOME = "/treasury/accounts/me"


@api.post(
    "/treasury/accounts",
    status=201,
    errors=OPENING_REFUSALS,
    idempotent=True,
    response_headers={"Location": f"where the account reads: {ACCOUNT_HOME}"},
)
async def create_account(
    request: Request, body: schemas.CreateAccountRequest
) -> Reply[schemas.AccountView]:
    """Open the caller's BVN-linked virtual account."""
    ports, key = ports_of(request, TreasuryPorts), idempotency.header_key(request)
    opened = await service.open_account(ports, caller(request).user_id, body.details(), key)
    headers = {"Location": ACCOUNT_HOME}
    if opened.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Reply(schemas.AccountView.model_validate(opened.account), headers=headers)


@api.get(ACCOUNT_HOME, errors=(errors.AccountNotFound,))
async def get_my_account(request: Request) -> schemas.AccountView:
    """The caller's account."""
    account = await service.get_account(ports_of(request, TreasuryPorts), caller(request).user_id)
    return schemas.AccountView.model_validate(account)


@api.get(f"{ACCOUNT_HOME}/transactions", errors=(errors.AccountNotFound,))
async def list_my_transactions(request: Request, query: PageQuery) -> schemas.TransactionPage:
    """Deposits into the caller's account, newest first."""
    ports, after = ports_of(request, TreasuryPorts), query.after(service.PageKey)
    chunk = await service.list_transactions(ports, caller(request).user_id, query.limit, after)
    return page_of(chunk, schemas.TransactionView.model_validate, schemas.TransactionPage)


@providers.post("/treasury/webhook", webhook=WEMA_DEPOSIT)
async def receive_wema_deposit(request: Request) -> schemas.DepositReceipt:
    """Wema's deposit notification: credits the account's owner exactly once."""
    ports = ports_of(request, TreasuryPorts)
    # The signature is checked over the exact bytes before anything is parsed.
    note = await webhooks.receive(
        request, schemas.DepositNotification, keep=partial(service.keep_refused, ports)
    )
    outcome = await service.receive_deposit(ports, note.deposit())
    ports.metrics.deposits.labels("webhook", outcome).inc()
    return schemas.DepositReceipt(status=outcome, transaction_reference=note.transaction_reference)
