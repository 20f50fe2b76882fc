"""The frame every service shares: `create_service_app` takes the service's declared APIs, its
error map and its lifespan, and adds health, readiness, the OpenAPI documents, metrics on their
own port, authentication and the request middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from betfuz_common import jsonio, openapi
from betfuz_common.api import Api
from betfuz_common.auth import JwtBackend, TokenRefused, verifier_from_settings
from betfuz_common.errors import NOT_FOUND, SERVICE_UNAVAILABLE, ErrorMap
from betfuz_common.logging import get_logger
from betfuz_common.metrics import ServiceMetrics
from betfuz_common.middleware import RequestContextMiddleware
from betfuz_common.ops.domain import Operations
from betfuz_common.ops.errors import OPS_ERRORS
from betfuz_common.ops.routes import ops_api
from betfuz_common.problems import exception_handlers, problem_response
from betfuz_common.settings import CommonSettings
from betfuz_common.webhooks import WebhookGate

log = get_logger("betfuz.app")
ReadinessCheck = Callable[[Starlette], Awaitable[None]]
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]
JSON = "application/json"


async def database_ready(app: Starlette) -> None:
    pool: asyncpg.Pool = app.state.pool
    async with pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1")


@dataclass(frozen=True)
class ServiceApp:
    """What a service hands the frame."""

    prefix: str  # "/topup": the load balancer's path rule
    api: Api  # the client API (its document at <prefix>/openapi.json)
    errors: ErrorMap
    lifespan: Lifespan
    settings: CommonSettings  # verifier, body limit, metrics port, public URL
    providers: Api | None = None  # provider webhooks (document at <prefix>/providers/openapi.json)
    webhook_gate: WebhookGate | None = None  # how the providers' notifications are signed
    ready_check: ReadinessCheck = database_ready
    metrics: ServiceMetrics | None = None
    extra_routes: Sequence[BaseRoute] = field(default_factory=tuple)
    # What configuration adds to the generated client document (e.g. configured bounds).
    amend_document: Callable[[dict[str, Any]], None] | None = None
    validation_context: Mapping[str, Any] | None = None  # handed to the models' validators
    operations: Operations | None = None  # the service's cases and actions (/<prefix>/ops/...)

    @property
    def server_url(self) -> str:
        return str(getattr(self.settings, "api_base_url", "/"))


def _json(content: Any, status: int = 200) -> Response:
    return Response(jsonio.dumps(content), status_code=status, media_type=JSON)


def _documents(service: ServiceApp) -> dict[str, dict[str, Any]]:
    client = openapi.document(
        [service.api],
        service.errors,
        title=service.api.title,
        description=service.api.description,
        server_url=service.server_url,
    )
    if service.amend_document is not None:
        service.amend_document(client)
    docs = {f"{service.prefix}/openapi.json": client}
    if service.providers is not None:
        docs[f"{service.prefix}/providers/openapi.json"] = openapi.document(
            [service.providers],
            service.errors,
            title=service.providers.title,
            description=service.providers.description,
            server_url=service.server_url,
            bearer=False,
        )
    return docs


def _frame_routes(service: ServiceApp, metrics: ServiceMetrics) -> list[BaseRoute]:
    async def health(_: Request) -> Response:
        return _json({"status": "ok"})

    async def ready(request: Request) -> Response:
        try:
            await service.ready_check(request.app)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said as 503
            log.warning("not_ready", error=type(exc).__name__)
            return problem_response(SERVICE_UNAVAILABLE(), request.url.path)
        return _json({"status": "ready"})

    async def metrics_page(request: Request) -> Response:
        # Only on the metrics port, which the load balancer never routes: however a path is
        # spelled (/topup/%6Detrics), a request from outside cannot reach the metrics.
        if request.scope.get("server", (None, None))[1] != service.settings.metrics_port:
            raise NOT_FOUND("no such route")
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    routes: list[BaseRoute] = [Route("/metrics", metrics_page, methods=["GET"])]
    for path, endpoint in (("/health", health), ("/ready", ready)):
        # Under the prefix for the load balancer's path rules; at the root for the container's
        # own health check.
        routes += [
            Route(service.prefix + path, endpoint, methods=["GET"]),
            Route(path, endpoint, methods=["GET"]),
        ]
    for path, doc in _documents(service).items():
        routes.append(Route(path, _serve(doc), methods=["GET"]))
    return routes


def _serve(doc: dict[str, Any]) -> Callable[[Request], Awaitable[Response]]:
    body = jsonio.dumps(doc)

    async def document(_: Request) -> Response:
        return Response(body, media_type=JSON)

    return document


def _refused_token(_: HTTPConnection, exc: Exception) -> Response:
    assert isinstance(exc, TokenRefused)
    return problem_response(exc.problem)


def create_service_app(service: ServiceApp) -> Starlette:
    metrics = service.metrics or ServiceMetrics(service.prefix.strip("/"))
    errors: ErrorMap = dict(service.errors)
    if service.operations is not None:
        errors = {**errors, **OPS_ERRORS}
        service = replace(service, errors=errors, api=service.api.extended(ops_api(service.prefix)))
    routes = [
        *_frame_routes(service, metrics),
        *service.api.routes(),
        *(service.providers.routes() if service.providers else []),
        *service.extra_routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                RequestContextMiddleware,
                metrics=metrics,
                max_body_bytes=service.settings.max_body_bytes,
                errors=service.errors,
            ),
            Middleware(
                AuthenticationMiddleware,
                backend=JwtBackend(verifier_from_settings(service.settings)),
                on_error=_refused_token,
            ),
        ],
        exception_handlers=exception_handlers(service.errors),  # type: ignore[arg-type]
        lifespan=service.lifespan,
    )
    # No redirect from `/x/` to `/x`: an API answers the path it was asked, and an empty path
    # parameter (`/ledger/ops/cases/`) is a 404 problem, not a 307 to another operation.
    app.router.redirect_slashes = False
    app.state.metrics = metrics
    app.state.webhook_gate = service.webhook_gate
    app.state.validation_context = service.validation_context
    app.state.operations = service.operations
    return app


@asynccontextmanager
async def pool_lifespan(app: Starlette, dsn: str, *, max_size: int = 10) -> AsyncIterator[None]:
    """Open the pool on start-up and close it on shutdown; handlers read `app.state.pool`."""
    from betfuz_common.db import create_pool

    app.state.pool = await create_pool(dsn, max_size=max_size)
    try:
        yield
    finally:
        await app.state.pool.close()
