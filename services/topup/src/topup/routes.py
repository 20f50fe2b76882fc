"""HTTP edge: parse, authenticate, call the service, map its errors. No rules live here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from betfuz_common.auth import JwtVerifier, Principal
from betfuz_common.errors import FieldError, Problem, validation_problem
from betfuz_common.settings import secret_list
from betfuz_common.signatures import verify
from betfuz_common.web import JsonResponse, json_object
from topup.config import TopupSettings
from topup.errors import InsufficientFunds, TopupNotFound, to_problem
from topup.schemas import (
    parse_cursor,
    parse_idempotency_key,
    parse_limit,
    parse_topup_request,
    topup_view,
)
from topup.service import TopupService

SIGNATURE_HEADER = "x-selcom-signature"
Endpoint = Callable[[Request], Awaitable[Response]]


def _service(request: Request) -> TopupService:
    service: TopupService = request.app.state.topup
    return service


def build_routes(settings: TopupSettings, verifier: JwtVerifier) -> list[BaseRoute]:
    webhook_secrets = secret_list(settings.selcom_api_secret)

    async def caller(request: Request) -> Principal:
        return await verifier.from_header(request.headers.get("authorization"))

    async def create_topup(request: Request) -> Response:
        principal = await caller(request)
        key = parse_idempotency_key(request.headers.get("idempotency-key"))
        data = json_object(await request.body(), request.headers.get("content-type", ""))
        order = parse_topup_request(
            data, minimum=settings.topup_min_amount, maximum=settings.topup_max_amount
        )
        try:
            reply = await _service(request).purchase(principal.user_id, order, key)
        except InsufficientFunds as exc:
            raise to_problem(exc) from None
        headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
        return Response(
            reply.body, status_code=reply.status, media_type="application/json", headers=headers
        )

    async def get_topup(request: Request) -> Response:
        principal = await caller(request)
        try:
            row = await _service(request).get(principal.user_id, request.path_params["topup_id"])
        except TopupNotFound as exc:
            raise to_problem(exc) from None
        return JsonResponse(topup_view(row))

    async def list_topups(request: Request) -> Response:
        principal = await caller(request)
        limit = parse_limit(request.query_params.get("limit"))
        cursor = parse_cursor(request.query_params.get("cursor"))
        rows, following = await _service(request).page(principal.user_id, limit, cursor)
        return JsonResponse({"items": [topup_view(row) for row in rows], "nextCursor": following})

    async def webhook(request: Request) -> Response:
        raw = await request.body()
        # Authenticate the exact bytes before parsing anything.
        if not verify(raw, request.headers.get(SIGNATURE_HEADER), webhook_secrets, "sha256"):
            raise Problem(
                401, "Unauthorized", detail="invalid webhook signature", code="invalid_signature"
            )
        payload = _webhook_payload(json_object(raw, request.headers.get("content-type", "")))
        outcome = await _service(request).handle_webhook(payload)
        return JsonResponse({"received": True, "outcome": outcome})

    async def topups(request: Request) -> Response:
        # One route for both methods, so a 405 lists both in its Allow header.
        return await (create_topup if request.method == "POST" else list_topups)(request)

    return [
        Route("/topup", topups, methods=["GET", "POST"]),
        Route("/topup/webhook", webhook, methods=["POST"]),
        Route("/topup/{topup_id}", get_topup, methods=["GET"]),
    ]


def _webhook_payload(data: dict[str, Any]) -> dict[str, Any]:
    errors: list[FieldError] = []
    for name in ("order_id", "status"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 128:
            errors.append(FieldError(name, "is required: a string of 1-128 characters"))
    for name in ("reference_id", "result_code", "result_description"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            errors.append(FieldError(name, "must be a string"))
    if errors:
        raise validation_problem(errors)
    return {
        "order_id": data["order_id"].strip(),
        "status": data["status"].strip(),
        "reference_id": (data.get("reference_id") or None) and data["reference_id"][:128],
        "result_code": (data.get("result_code") or None) and data["result_code"][:16],
        "result_description": (data.get("result_description") or "")[:500],
    }
