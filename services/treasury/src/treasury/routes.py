"""HTTP edge: authenticate, parse, call the rules, map refusals to problem+json."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from betfuz_common.auth import JwtVerifier
from betfuz_common.errors import FieldError, Problem, bad_gateway, not_found, validation_problem
from betfuz_common.idempotency import IdempotencyStore, Replay, fingerprint
from betfuz_common.logging import get_logger
from betfuz_common.signatures import verify
from betfuz_common.web import JsonResponse, parse_model, read_model
from treasury import service
from treasury.errors import (
    AccountExists,
    AccountNotFound,
    BvnAlreadyLinked,
    CreationInProgress,
    InvalidCursor,
    TreasuryError,
    UserNotFound,
)
from treasury.provider import ProviderError, ProviderRejected, ProviderTimeout
from treasury.schemas import CreateAccountRequest, DepositWebhook

log = get_logger("treasury.http")
SIGNATURE_HEADER = "x-wema-signature"
DEFAULT_PAGE, MAX_PAGE = 20, 100
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Edge:
    treasury: service.Treasury
    verifier: JwtVerifier
    webhook_secrets: list[bytes]
    idempotency: IdempotencyStore


def _edge(request: Request) -> Edge:
    return cast(Edge, request.app.state.edge)


def _problem(exc: Exception) -> Problem:
    if isinstance(exc, UserNotFound):
        return Problem(404, "User not found", "no Betfuz user matches this token", "user_not_found")
    if isinstance(exc, AccountNotFound):
        return not_found("this user has no bank account yet")
    if isinstance(exc, AccountExists):
        return Problem(
            409,
            "Account exists",
            "this user already has a bank account",
            "account_exists",
            extra={"account": exc.account},
        )
    if isinstance(exc, CreationInProgress):
        return Problem(
            409,
            "Creation in progress",
            "this user's account is being created; retry shortly",
            "account_creation_in_progress",
            headers={"Retry-After": "2"},
        )
    if isinstance(exc, BvnAlreadyLinked):
        return Problem(
            409, "BVN already linked", "this BVN is linked to another account", "bvn_linked"
        )
    if isinstance(exc, ProviderRejected):
        return Problem(422, "Details refused by the bank", str(exc), "provider_rejected")
    if isinstance(exc, ProviderTimeout):
        return bad_gateway(str(exc), timeout=True)
    if isinstance(exc, ProviderError):
        return bad_gateway(str(exc))
    if isinstance(exc, InvalidCursor):
        return validation_problem([FieldError("cursor", "is not a cursor this API issued")])
    raise exc


async def create_account(request: Request) -> Response:
    edge = _edge(request)
    user_id = (await edge.verifier.from_header(request.headers.get("authorization"))).user_id
    details = await read_model(request, CreateAccountRequest)
    key = request.headers.get("idempotency-key")
    if key is None:
        return await _create(edge, user_id, details)
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise validation_problem([FieldError("Idempotency-Key", "must be 1-255 visible ASCII")])
    scope = f"accounts:{user_id}"
    # The BVN enters the fingerprint only as its keyed hash: a plain hash could be reversed.
    digest = fingerprint(
        {
            **details.model_dump(mode="json", exclude={"bvn"}),
            "bvn": edge.treasury.cipher.fingerprint(details.bvn).hex(),
        }
    )
    pool = edge.treasury.pool
    async with pool.acquire() as conn:
        claim = await edge.idempotency.begin(conn, scope, key, digest)
    if isinstance(claim, Replay):
        return Response(claim.body, claim.status, media_type="application/json")
    try:
        response = await _create(edge, user_id, details)
    except Exception:
        async with pool.acquire() as conn:
            await edge.idempotency.release(conn, scope, key)
        raise
    async with pool.acquire() as conn:
        await edge.idempotency.finish(conn, scope, key, response.status_code, bytes(response.body))
    return response


async def _create(edge: Edge, user_id: str, details: CreateAccountRequest) -> Response:
    try:
        account = await service.create_account(edge.treasury, user_id, details)
    except (TreasuryError, ProviderError) as exc:
        raise _problem(exc) from None
    return JsonResponse(account, status_code=201, headers={"Location": "/treasury/accounts/me"})


async def my_account(request: Request) -> Response:
    edge = _edge(request)
    user_id = (await edge.verifier.from_header(request.headers.get("authorization"))).user_id
    try:
        return JsonResponse(await service.get_account(edge.treasury, user_id))
    except TreasuryError as exc:
        raise _problem(exc) from None


async def my_transactions(request: Request) -> Response:
    edge = _edge(request)
    user_id = (await edge.verifier.from_header(request.headers.get("authorization"))).user_id
    limit = _limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor")
    try:
        items, next_cursor = await service.list_transactions(
            edge.treasury, user_id, limit=limit, cursor=cursor
        )
    except TreasuryError as exc:
        raise _problem(exc) from None
    return JsonResponse({"items": items, "nextCursor": next_cursor})


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE:
        return int(raw)
    raise validation_problem([FieldError("limit", f"must be an integer from 1 to {MAX_PAGE}")])


async def wema_webhook(request: Request) -> Response:
    edge = _edge(request)
    raw = await request.body()
    # Authenticate the exact bytes before parsing a single one of them.
    if not verify(raw, request.headers.get(SIGNATURE_HEADER), edge.webhook_secrets, "sha512"):
        log.warning("webhook_signature_rejected")
        raise Problem(
            401, "Unauthorized", "missing or invalid X-Wema-Signature", "invalid_signature"
        )
    deposit = parse_model(raw, DepositWebhook)
    outcome = await service.receive_deposit(edge.treasury, deposit)
    return JsonResponse({"status": outcome, "transactionReference": deposit.transaction_reference})


def treasury_routes() -> list[BaseRoute]:
    return [
        Route("/treasury/accounts", create_account, methods=["POST"]),
        Route("/treasury/accounts/me", my_account, methods=["GET"]),
        Route("/treasury/accounts/me/transactions", my_transactions, methods=["GET"]),
        Route("/treasury/webhook", wema_webhook, methods=["POST"]),
    ]
