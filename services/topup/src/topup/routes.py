"""The topup HTTP edge: module-level functions, each parse → service → response. No rules here.

`api` is the client document (/topup/openapi.json); `providers` the provider-facing one
(/topup/providers/openapi.json) with Selcom's result callback.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request

from betfuz_common import idempotency, webhooks
from betfuz_common.api import Api, Reply, Webhook, caller, ports_of, provider_api
from betfuz_common.auth import requires
from betfuz_common.errors import WalletNotFound
from betfuz_common.pagination import PageQuery, page_of
from topup import schemas, service
from topup.errors import (
    InsufficientFunds,
    NoProductCodeForAirtime,
    PlansUnavailable,
    PriceMismatch,
    ProductCodeRequired,
    ProviderUnavailable,
    TopupNotFound,
    UnknownProduct,
)
from topup.ports import TopupPorts

api = Api(
    title="Betfuz topup",
    description="Airtime and data from the Betfuz wallet. Every purchase is idempotent: on the "
    "Idempotency-Key when given, else on user+phone+carrier+amount+type.",
    tag="Topups",
    auth=requires(),
)
providers = provider_api(
    "topup", "Selcom and VTpass", "Selcom's signed result callback, VTpass's unsigned notification"
)
PURCHASE_ERRORS = (
    InsufficientFunds,
    WalletNotFound,
    ProviderUnavailable,
    PlansUnavailable,
    UnknownProduct,
    PriceMismatch,
    ProductCodeRequired,
    NoProductCodeForAirtime,
)
SELCOM_RESULT = Webhook(
    "X-Selcom-Signature", schemas.SelcomNotification, "hex (or base64) HMAC-SHA256 of the raw body"
)


@api.post("/topup", status=201, errors=PURCHASE_ERRORS, idempotent=True)
async def create_topup(request: Request, body: schemas.TopupRequest) -> Reply[schemas.TopupCreated]:
    """Buy airtime or data from the caller's wallet."""
    user_id, order = caller(request).user_id, body.order()
    key = service.idempotency_for(user_id, order, idempotency.header_key(request))
    bought = await service.purchase(ports_of(request, TopupPorts), user_id, order, key)
    headers = {"Idempotent-Replayed": "true"} if bought.replayed else {}
    return Reply(schemas.TopupCreated.model_validate(bought.topup), headers=headers)


@api.get("/topup")
async def list_topups(request: Request, query: PageQuery) -> schemas.TopupPage:
    """The caller's topups, newest first."""
    chunk = await service.list_topups(
        ports_of(request, TopupPorts),
        caller(request).user_id,
        query.limit,
        query.after(service.PageKey),
    )
    return page_of(chunk, schemas.TopupView.model_validate, schemas.TopupPage)


@api.get("/topup/products", errors=(PlansUnavailable,))
async def list_products(request: Request, query: schemas.ProductsQuery) -> schemas.ProductList:
    """The data plans on sale for a carrier, from the provider its route selects."""
    ports = ports_of(request, TopupPorts)
    plans: list[schemas.ProductView] = []
    seller = None
    if query.type.value == "data":
        seller, found = await service.list_plans(ports, query.carrier.value)
        plans = [schemas.ProductView.model_validate(plan) for plan in found]
    return schemas.ProductList(
        carrier=query.carrier, type=query.type, by_amount=seller is None, products=plans
    )


@api.get("/topup/{transactionId}", errors=(TopupNotFound,))
async def get_topup(request: Request, path: schemas.TopupPath) -> schemas.TopupView:
    """One of the caller's topups."""
    ports, user_id = ports_of(request, TopupPorts), caller(request).user_id
    return schemas.TopupView.model_validate(
        await service.get_topup(ports, user_id, path.transaction_id)
    )


@providers.post("/topup/webhook", webhook=SELCOM_RESULT)
async def receive_selcom_result(request: Request) -> schemas.NotificationReceipt:
    """Selcom's result callback: settles the topup once on a definitive status."""
    ports = ports_of(request, TopupPorts)
    # The signature is checked over the exact bytes before anything is parsed.
    note = await webhooks.receive(
        request, schemas.SelcomNotification, keep=partial(service.keep_refused, ports)
    )
    outcome = await service.handle_notification(ports, note)
    return schemas.NotificationReceipt(outcome=outcome)


@providers.post("/topup/webhook/vtpass")
async def receive_vtpass_notification(
    request: Request, body: schemas.VtpassNotification
) -> schemas.VtpassReceipt:
    """VTpass's transaction notification. Unsigned: it settles nothing itself, it makes us
    requery VTpass, and the requery's answer settles."""
    outcome = await service.handle_vtpass_notification(ports_of(request, TopupPorts), body)
    return schemas.VtpassReceipt(outcome=outcome)
