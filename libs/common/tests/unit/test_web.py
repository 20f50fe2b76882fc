from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from betfuz_common.openapi import document
from betfuz_common.web import JsonResponse, create_service_app, read_model


class Order(BaseModel):
    amount: Decimal
    note: str


async def echo(request: Request) -> Response:
    order = await read_model(request, Order)
    return JsonResponse({"amount": order.amount, "note": order.note})


async def explode(_: Request) -> Response:
    raise RuntimeError("secret internals must not leak")


async def always_ready(_: Starlette) -> None:
    return None


async def never_ready(_: Starlette) -> None:
    raise ConnectionError("db down")


def build(ready: bool = True) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield

    return create_service_app(
        prefix="/demo",
        routes=[
            Route("/demo/echo", echo, methods=["POST"]),
            Route("/demo/explode", explode, methods=["GET"]),
        ],
        openapi=document(title="demo", prefix="/demo", paths={}),
        lifespan=lifespan,
        max_body_bytes=1024,
        ready_check=always_ready if ready else never_ready,
    )


def client(app: Starlette) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_an_unknown_route_answers_problem_json() -> None:
    async with client(build()) as http:
        response = await http.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_a_wrong_method_answers_problem_json() -> None:
    async with client(build()) as http:
        response = await http.delete("/demo/echo")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unhandled_exception_answers_problem_json_without_internals() -> None:
    async with client(build()) as http:
        response = await http.get("/demo/explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_an_oversized_body_is_refused_with_413() -> None:
    async with client(build()) as http:
        response = await http.post(
            "/demo/echo", content=b"x" * 2048, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_oversized_chunked_body_is_refused_with_413() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 512

    async with client(build()) as http:
        response = await http.post(
            "/demo/echo", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413


async def test_json_bodies_keep_exact_decimals() -> None:
    async with client(build()) as http:
        response = await http.post("/demo/echo", json={"amount": 50000.50, "note": "n"})
    assert response.status_code == 200
    assert b'"amount":50000.5' in response.content


async def test_invalid_fields_get_422_naming_each_field() -> None:
    async with client(build()) as http:
        response = await http.post("/demo/echo", json={"amount": "lots"})
    assert response.status_code == 422
    fields = {err["field"] for err in response.json()["errors"]}
    assert fields == {"amount", "note"}


async def test_malformed_json_or_a_non_object_gets_400_and_non_json_gets_415() -> None:
    async with client(build()) as http:
        malformed = await http.post(
            "/demo/echo", content=b"{", headers={"content-type": "application/json"}
        )
        array = await http.post("/demo/echo", json=[{"amount": 1, "note": "n"}])
        not_json = await http.post("/demo/echo", content=b"a=1")
    assert malformed.status_code == 400
    assert array.status_code == 400
    assert array.json()["code"] == "malformed_json"
    assert not_json.status_code == 415


async def test_the_request_id_is_echoed_or_created() -> None:
    async with client(build()) as http:
        given = await http.get("/demo/health", headers={"x-request-id": "abc-123"})
        created = await http.get("/demo/health")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(created.headers["x-request-id"]) == 32


async def test_health_answers_at_the_root_and_under_the_prefix() -> None:
    async with client(build()) as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/demo/health")).status_code == 200
        assert (await http.get("/demo/openapi.json")).json()["openapi"] == "3.1.0"


async def test_ready_answers_503_problem_when_the_database_is_unreachable() -> None:
    async with client(build(ready=False)) as http:
        response = await http.get("/demo/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_metrics_count_requests_by_route_template() -> None:
    async with client(build()) as http:
        await http.get("/demo/health")
        await http.get("/nowhere/12345")
        page = (await http.get("/demo/metrics")).text
    assert 'route="/demo/health"' in page
    assert 'route="<unmatched>"' in page
    assert "/nowhere/12345" not in page
