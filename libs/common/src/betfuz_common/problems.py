"""Exceptions to problem+json at the edge: the service's error map, the framework's own errors,
a database that is down (503 with Retry-After), and anything unexpected (one 500, logged once)."""

from __future__ import annotations

import asyncpg
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from betfuz_common import jsonio
from betfuz_common.errors import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PROBLEM_CONTENT_TYPE,
    SERVICE_UNAVAILABLE,
    ErrorMap,
    Problem,
    ProblemType,
    problem_type_for,
)

# What a PostgreSQL that restarts, refuses connections or is unreachable raises. These are a
# dependency failing, said as 503 so clients and the load balancer retry, never as a 500.
# (InterfaceError: a connection closed under a query during a restart. InternalClientError:
# a pooled connection the server shut down between two queries, whose protocol is still
# handling the shutdown notice when the next query starts — "cannot switch to state 15;
# another operation (2) is in progress"; tests/safety/test_database_restart.py meets it.)
DATABASE_DOWN: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

_BY_STATUS: dict[int, ProblemType] = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 400: BAD_REQUEST}


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    return Response(
        jsonio.dumps(problem.body(instance)),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(problem.headers),
    )


def problem_for(exc: BaseException, errors: ErrorMap) -> Problem | None:
    """The problem an exception means, or None when it is unexpected (a 500)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, Exception):
        mapped = problem_type_for(exc, errors)
        if mapped is not None:
            return mapped.from_exception(exc)
    if isinstance(exc, HTTPException):
        kind = _BY_STATUS.get(exc.status_code)
        if kind is None:
            kind = ProblemType(exc.status_code, "http_error", "HTTP error")
        problem = kind(str(exc.detail))
        problem.headers = {**problem.headers, **(exc.headers or {})}
        return problem
    if isinstance(exc, DATABASE_DOWN):
        return SERVICE_UNAVAILABLE()
    return None


def unexpected() -> Problem:
    return INTERNAL_ERROR()


def exception_handlers(errors: ErrorMap) -> dict[type[Exception], object]:
    """Starlette handlers for what routes raise; the unexpected rest is the middleware's."""

    async def handle(request: Request, exc: Exception) -> Response:
        problem = problem_for(exc, errors)
        if problem is None:
            raise exc  # to the request middleware: logged once, answered 500
        return problem_response(problem, request.url.path)

    return {kind: handle for kind in (Problem, HTTPException, *errors, *DATABASE_DOWN)}
