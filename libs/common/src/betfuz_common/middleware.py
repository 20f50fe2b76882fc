"""The outermost layer of every service: request id, the input rule for paths and queries, the
body-size limit, one access log line and the metrics per request, and the last word on any
exception nobody mapped (logged once, with its traceback, and answered 500 problem+json)."""

from __future__ import annotations

import time
import uuid
from urllib.parse import unquote

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from betfuz_common.errors import (
    BAD_REQUEST,
    CONTENT_TOO_LARGE,
    ErrorMap,
    FieldError,
    Problem,
    validation_problem,
)
from betfuz_common.logging import get_logger
from betfuz_common.metrics import ServiceMetrics
from betfuz_common.problems import problem_for, problem_response, unexpected
from betfuz_common.text import forbidden_character

log = get_logger("betfuz.http")
_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = bytes(value).decode("latin-1")[:128]
            if text and set(text) <= _REQUEST_ID_OK:
                return text
    return uuid.uuid4().hex


def _refused_input(scope: Scope) -> Problem | None:
    """NUL and other control characters anywhere in the path or the query are refused here,
    once, before any route or database sees them."""
    for where, text in (
        ("path", scope.get("path", "")),
        ("query", unquote(bytes(scope.get("query_string", b"")).decode("latin-1"))),
    ):
        bad = forbidden_character(text)
        if bad is not None:
            message = f"contains a control character or a lone surrogate ({bad})"
            return validation_problem([FieldError(where, message)])
    return None


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics, max_body_bytes: int, errors: ErrorMap
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            refused = _refused_input(scope) or self._declared_too_large(scope)
            if refused is not None:
                await problem_response(refused, None)(scope, receive, send_with_id)
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        except Exception as exc:
            # Only what no handler took arrives here: a known problem raised while streaming,
            # a database gone mid-response, or a bug. A bug is logged here, once.
            problem = problem_for(exc, self.errors)
            if problem is None:
                log.error("unhandled_exception", path=scope.get("path"), exc_info=exc)
                problem = unexpected()
            if not response_started:
                await problem_response(problem, scope.get("path"))(scope, receive, send_with_id)
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

    def _declared_too_large(self, scope: Scope) -> Problem | None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return BAD_REQUEST("Content-Length is not a number")
                return _too_large(self.max_body_bytes) if declared > self.max_body_bytes else None
        return None

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
    return CONTENT_TOO_LARGE(f"request body exceeds {limit} bytes")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths share one label so a scanner cannot blow up the metric cardinality.
    return path if isinstance(path, str) else "<unmatched>"
