"""Thin Starlette adapters: app factory, request context, problem+json, JSON bodies, health."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import structlog
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from betfuz_common import jsonio
from betfuz_common.errors import PROBLEM_CONTENT_TYPE, FieldError, Problem, validation_problem
from betfuz_common.logging import get_logger
from betfuz_common.metrics import ServiceMetrics

log = get_logger("betfuz.http")
M = TypeVar("M", bound=BaseModel)
_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsonio.dumps(content)


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    return Response(
        jsonio.dumps(problem.body(instance)),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(problem.headers),
    )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = bytes(value).decode("latin-1")[:128]
            if text and set(text) <= _REQUEST_ID_OK:
                return text
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Request id, body-size limit, one access log line and the metrics for every request."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if self._declared_too_large(scope):
                await problem_response(_too_large(self.max_body_bytes))(
                    scope, receive, send_with_id
                )
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(scope["method"], route, status, elapsed)
            log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value) > self.max_body_bytes
                except ValueError:
                    return False
        return False

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body_bytes

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        return wrapped


def _too_large(limit: int) -> Problem:
    return Problem(413, "Content too large", detail=f"request body exceeds {limit} bytes")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths share one label so a scanner cannot blow up the metric cardinality.
    return path if isinstance(path, str) else "<unmatched>"


async def _handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    problem = Problem(
        exc.status_code,
        titles.get(exc.status_code, "HTTP error"),
        detail=str(exc.detail),
        headers=dict(exc.headers or {}),
    )
    return problem_response(problem, request.url.path)


async def _handle_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled_exception", path=request.url.path, exc_info=exc)
    problem = Problem(500, "Internal server error", detail="an unexpected error occurred")
    return problem_response(problem, request.url.path)


async def read_model(request: Request, model: type[M]) -> M:
    """Parse the raw body as Decimal-safe JSON and validate it; every failure is a 4xx Problem."""
    body = await request.body()
    return _validated(model, json_object(body, request.headers.get("content-type", "")))


def parse_model(body: bytes, model: type[M]) -> M:
    """As read_model, for bodies whose sender may not label them (provider webhooks)."""
    return _validated(model, json_object(body))


def json_object(body: bytes, content_type: str | None = None) -> dict[str, Any]:
    """The body as a Decimal-safe JSON object: 415 if the given content type is not JSON, 400
    unless the body is a JSON object."""
    if content_type is not None and "json" not in content_type:
        raise Problem(415, "Unsupported media type", detail="send application/json")
    try:
        data = jsonio.loads(body)
    except jsonio.JsonError as exc:
        raise Problem(400, "Malformed JSON", detail=str(exc), code="malformed_json") from None
    if not isinstance(data, dict):
        raise Problem(400, "Malformed JSON", detail="expected a JSON object", code="malformed_json")
    return data


def _validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(field_errors(exc)) from None


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in err["loc"]) or "body"
        message = str(err["msg"]).removeprefix("Value error, ")
        errors.append(FieldError(name, message))
    return errors


ReadinessCheck = Callable[[Starlette], Awaitable[None]]


async def database_ready(app: Starlette) -> None:
    pool: asyncpg.Pool = app.state.pool
    async with pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1")


def health_routes(
    prefix: str,
    openapi: Mapping[str, Any],
    metrics: ServiceMetrics,
    ready_check: ReadinessCheck,
) -> list[BaseRoute]:
    async def health(_: Request) -> Response:
        return JsonResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        try:
            await ready_check(request.app)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said as 503
            log.warning("not_ready", error=type(exc).__name__)
            problem = Problem(503, "Not ready", detail="a dependency is unreachable")
            return problem_response(problem, request.url.path)
        return JsonResponse({"status": "ready"})

    async def openapi_doc(_: Request) -> Response:
        return JsonResponse(openapi)

    async def metrics_page(_: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    routes: list[BaseRoute] = []
    for path, endpoint in (
        ("/health", health),
        ("/ready", ready),
        ("/metrics", metrics_page),
        ("/openapi.json", openapi_doc),
    ):
        # Under the prefix for the load balancer's path rules; liveness and readiness also at
        # the root for the container's own health check.
        routes.append(Route(prefix + path, endpoint, methods=["GET"]))
        if path in ("/health", "/ready"):
            routes.append(Route(path, endpoint, methods=["GET"]))
    return routes


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def create_service_app(
    *,
    prefix: str,
    routes: Sequence[BaseRoute],
    openapi: Mapping[str, Any],
    lifespan: Lifespan,
    max_body_bytes: int = 64 * 1024,
    ready_check: ReadinessCheck = database_ready,
    metrics: ServiceMetrics | None = None,
) -> Starlette:
    """The frame every service shares; the service brings its routes and its lifespan."""
    metrics = metrics or ServiceMetrics(prefix.strip("/"))
    app = Starlette(
        routes=[*health_routes(prefix, openapi, metrics, ready_check), *routes],
        exception_handlers={
            Problem: _handle_problem,
            HTTPException: _handle_http_exception,
            Exception: _handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.add_middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=max_body_bytes)
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
