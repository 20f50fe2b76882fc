"""The frame every service shares, on a tiny app declared the way the services declare theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from structlog.testing import capture_logs

from betfuz_common.api import Api, caller
from betfuz_common.app import ServiceApp, create_service_app
from betfuz_common.auth import issue_token, requires
from betfuz_common.errors import ErrorMap, ProblemType
from betfuz_common.models import QueryModel, RequestModel, ResponseModel
from betfuz_common.money import NairaIn, NairaOut
from betfuz_common.pagination import PageQuery
from betfuz_common.settings import CommonSettings, load_settings

SECRET = "unit-test-secret-0123456789abcdef0123"


class Order(RequestModel):
    amount: NairaIn
    note: str


class Echo(ResponseModel):
    amount: NairaOut
    note: str
    caller: str


class Limit(ResponseModel):
    limit: int


class Refused(Exception):
    pass


class ItemPath(QueryModel):
    item_id: str


api = Api(title="demo", description="a demo", tag="demo")


@api.post("/demo/echo", auth=requires())
async def echo(request: Request, body: Order) -> Echo:
    """Echo the order.

    What the caller sent, with who it is.
    """
    return Echo(amount=body.amount, note=body.note, caller=caller(request).user_id)


@api.get("/demo/explode")
async def explode(_: Request) -> Echo:
    raise RuntimeError("secret internals must not leak")


@api.get("/demo/refuse", errors=(Refused,))
async def refuse(_: Request) -> Echo:
    raise Refused("no")


@api.get("/demo/db")
async def database_down(_: Request) -> Echo:
    raise asyncpg.CannotConnectNowError("the database system is starting up")


@api.get("/demo/db-restarted")
async def database_restarted(_: Request) -> Echo:
    # What asyncpg raises on a pooled connection the server shut down between two queries.
    raise asyncpg.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress"
    )


@api.get("/demo/page")
async def page(_: Request, query: PageQuery) -> Limit:
    return Limit(limit=query.limit)


@api.get("/demo/ops", auth=requires("ops"))
async def ops_only(_: Request) -> Limit:
    return Limit(limit=1)


ERRORS: ErrorMap = {Refused: ProblemType(409, "refused", "Refused")}


class DemoSettings(CommonSettings):
    api_base_url: str = "http://demo.test"


async def always_ready(_: Starlette) -> None:
    return None


async def never_ready(_: Starlette) -> None:
    raise ConnectionError("db down")


def build(ready: bool = True, metrics_port: int | None = None) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield

    env = {"APP_ENV": "test", "JWT_SECRET": SECRET, "MAX_BODY_BYTES": "1024"}
    if metrics_port is not None:
        env["METRICS_PORT"] = str(metrics_port)
    return create_service_app(
        ServiceApp(
            prefix="/demo",
            api=api,
            errors=ERRORS,
            lifespan=lifespan,
            settings=load_settings(DemoSettings, env),
            ready_check=always_ready if ready else never_ready,
        )
    )


def client(app: Starlette, port: int = 80) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=f"http://test:{port}")


def token(user: str = "u1", *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, roles=roles)}"}


async def test_an_unknown_route_answers_problem_json_with_a_code() -> None:
    async with client(build()) as http:
        response = await http.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["status"], response.json()["code"]) == (404, "not_found")


async def test_a_wrong_method_answers_problem_json_listing_the_allowed_ones() -> None:
    async with client(build()) as http:
        response = await http.delete("/demo/echo")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"


async def test_an_unhandled_exception_answers_problem_json_without_internals() -> None:
    async with client(build()) as http:
        response = await http.get("/demo/explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_a_domain_error_is_answered_as_its_mapped_problem() -> None:
    async with client(build()) as http:
        response = await http.get("/demo/refuse")
    assert (response.status_code, response.json()["code"]) == (409, "refused")


async def test_a_database_that_is_down_is_a_503_with_retry_after_never_a_500() -> None:
    async with client(build()) as http:
        response = await http.get("/demo/db")
    assert (response.status_code, response.json()["code"]) == (503, "service_unavailable")
    assert response.headers["retry-after"]


async def test_a_pooled_connection_the_server_shut_down_is_a_503_never_a_500() -> None:
    async with client(build()) as http:
        response = await http.get("/demo/db-restarted")
    assert (response.status_code, response.json()["code"]) == (503, "service_unavailable")
    assert response.headers["retry-after"]


async def test_an_oversized_body_is_refused_with_413() -> None:
    async with client(build()) as http:
        response = await http.post(
            "/demo/echo",
            content=b"x" * 2048,
            headers={"content-type": "application/json", **token()},
        )
    assert (response.status_code, response.json()["code"]) == (413, "content_too_large")


async def test_an_oversized_chunked_body_is_refused_with_413() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 512

    async with client(build()) as http:
        response = await http.post(
            "/demo/echo", content=chunks(), headers={"content-type": "application/json", **token()}
        )
    assert response.status_code == 413


async def test_json_bodies_keep_exact_decimals_and_accept_a_decimal_string() -> None:
    async with client(build()) as http:
        number = await http.post(
            "/demo/echo",
            content=b'{"amount": 50000.50, "note": "n"}',
            headers={"content-type": "application/json", **token()},
        )
        text = await http.post(
            "/demo/echo", json={"amount": "100.10", "note": "n"}, headers=token()
        )
    assert number.status_code == 200
    assert b'"amount":50000.50' in number.content
    assert b'"amount":100.10' in text.content


async def test_invalid_fields_get_422_naming_each_field_and_unknown_fields_are_refused() -> None:
    async with client(build()) as http:
        response = await http.post(
            "/demo/echo", json={"amount": "lots", "currency": "USD"}, headers=token()
        )
    assert response.status_code == 422
    fields = {err["field"] for err in response.json()["errors"]}
    assert fields == {"amount", "note", "currency"}


async def test_malformed_json_or_a_non_object_gets_400_and_non_json_gets_415() -> None:
    async with client(build()) as http:
        malformed = await http.post(
            "/demo/echo", content=b"{", headers={"content-type": "application/json", **token()}
        )
        array = await http.post("/demo/echo", json=[{"amount": 1, "note": "n"}], headers=token())
        not_json = await http.post("/demo/echo", content=b"a=1", headers=token())
    assert malformed.status_code == 400
    assert array.status_code == 400
    assert array.json()["code"] == "malformed_json"
    assert (not_json.status_code, not_json.json()["code"]) == (415, "unsupported_media_type")


async def test_the_media_type_is_compared_without_regard_to_case_or_parameters() -> None:
    async with client(build()) as http:
        response = await http.post(
            "/demo/echo",
            content=b'{"amount": 1, "note": "n"}',
            headers={"content-type": "APPLICATION/JSON; charset=UTF-8", **token()},
        )
    assert response.status_code == 200


async def test_a_key_given_twice_is_refused_rather_than_one_of_them_taken() -> None:
    async with client(build()) as http:
        response = await http.post(
            "/demo/echo",
            content=b'{"amount": 1, "amount": 1000000, "note": "n"}',
            headers={"content-type": "application/json", **token()},
        )
    assert (response.status_code, response.json()["code"]) == (400, "malformed_json")


async def test_nul_in_a_path_or_a_query_is_a_422_before_any_route_runs() -> None:
    async with client(build()) as http:
        in_path = await http.get("/demo/refuse%00")
        in_query = await http.get("/demo/page", params={"cursor": "a\x00b"})
    assert (in_path.status_code, in_path.json()["errors"][0]["field"]) == (422, "path")
    assert (in_query.status_code, in_query.json()["errors"][0]["field"]) == (422, "query")


async def test_numbers_in_a_query_are_ascii_digits_and_each_parameter_comes_once() -> None:
    async with client(build()) as http:
        superscript = await http.get("/demo/page", params={"limit": "²"})
        arabic = await http.get("/demo/page", params={"limit": "٢"})
        twice = await http.get("/demo/page?limit=1&limit=2")
        unknown = await http.get("/demo/page", params={"limt": "2"})
        good = await http.get("/demo/page", params={"limit": "2"})
    assert [r.status_code for r in (superscript, arabic, twice, unknown)] == [422] * 4
    assert good.json() == {"limit": 2}


async def test_no_token_is_401_a_bad_token_is_401_and_a_missing_role_is_403() -> None:
    async with client(build()) as http:
        missing = await http.get("/demo/ops")
        forged = await http.get("/demo/ops", headers={"Authorization": "Bearer not.a.jwt"})
        player = await http.get("/demo/ops", headers=token("p1"))
        ops = await http.get("/demo/ops", headers=token("o1", "ops"))
    assert (missing.status_code, missing.json()["code"]) == (401, "unauthorized")
    assert forged.status_code == 401
    assert (player.status_code, player.json()["code"]) == (403, "forbidden")
    assert ops.status_code == 200


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


async def test_metrics_count_requests_by_route_template_on_the_metrics_port_only() -> None:
    app = build(metrics_port=9464)
    async with client(app) as http:
        await http.get("/demo/health")
        await http.get("/nowhere/12345")
        spelled = await http.get("/demo/%6Detrics")
        main_port = await http.get("/metrics")
    async with client(app, port=9464) as metrics:
        page = (await metrics.get("/metrics")).text
    assert (spelled.status_code, main_port.status_code) == (404, 404)
    assert 'route="/demo/health"' in page
    assert 'route="<unmatched>"' in page
    assert "/nowhere/12345" not in page


def test_the_document_lists_each_operation_with_its_error_codes() -> None:
    app = build()
    route = next(r for r in app.routes if getattr(r, "path", "") == "/demo/openapi.json")
    import asyncio

    import orjson

    doc = orjson.loads(asyncio.run(route.endpoint(None)).body)  # type: ignore[attr-defined]
    refuse_op = doc["paths"]["/demo/refuse"]["get"]
    assert refuse_op["operationId"] == "refuse"
    ref = refuse_op["responses"]["409"]["content"]["application/problem+json"]["schema"]["$ref"]
    problem = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert problem["allOf"][1]["properties"]["code"]["enum"] == ["refused"]
    echo_op = doc["paths"]["/demo/echo"]["post"]
    assert (echo_op["operationId"], echo_op["summary"]) == ("echo", "Echo the order")
    assert echo_op["description"] == "What the caller sent, with who it is."
    assert echo_op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Order"
    }
    assert set(echo_op["responses"]) == {"200", "400", "401", "403", "413", "415", "422", "503"}
    assert doc["tags"] == [{"name": "demo"}]
    assert doc["servers"] == [{"url": "http://demo.test"}]


async def test_an_unhandled_exception_is_logged_once_and_never_reaches_the_server() -> None:
    # raise_app_exceptions=True: had the exception left the app, uvicorn would log it a
    # second time ("Exception in ASGI application"); here it would raise.
    transport = httpx.ASGITransport(app=build(), raise_app_exceptions=True)
    with capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/demo/explode")
    assert response.status_code == 500
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert [entry["event"] for entry in errors] == ["unhandled_exception"]


async def test_another_authorization_scheme_is_anonymous_so_the_route_decides() -> None:
    async with client(build()) as http:
        on_a_public_route = await http.get("/demo/refuse", headers={"Authorization": "Basic eDp5"})
        on_a_client_route = await http.get("/demo/ops", headers={"Authorization": "Basic eDp5"})
    # A provider's signed callback carrying its own Authorization header reaches its handler.
    assert on_a_public_route.json()["code"] == "refused"
    assert (on_a_client_route.status_code, on_a_client_route.json()["code"]) == (
        401,
        "unauthorized",
    )
