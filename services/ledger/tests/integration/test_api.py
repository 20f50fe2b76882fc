"""The read API in-process (ASGI) on a real database; verify reads the real chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import jsonschema_rs
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Message
from structlog.testing import capture_logs

from betfuz_common import jsonio
from betfuz_common.openapi import document
from betfuz_common.ops.errors import OPS_ERRORS
from betfuz_common.ops.routes import ops_api
from betfuz_testing.anvil import Anvil
from betfuz_testing.processes import free_port
from betfuz_testing.tokens import bearer
from ledger.app import create_app
from ledger.bet_encoding import bet_hash
from ledger.config import LedgerSettings
from ledger.errors import ERRORS
from ledger.routes import api
from services.ledger.tests.integration.garbage_node import Garbage, garbage_node
from services.ledger.tests.integration.support import (
    SETTLED,
    SettingsFactory,
    add_entry,
    add_slips,
    big_wins,
    make_worker,
    settings_for,
)

COMPLIANCE = bearer("officer-1", ["compliance"])
ClientFactory = Callable[[LedgerSettings], Any]


OPENAPI = document(
    [api], ERRORS, title=api.title, description=api.description, server_url="http://ledger.test"
)


def conforms(body: Any, schema_name: str) -> None:
    schema = {**OPENAPI, "$ref": f"#/components/schemas/{schema_name}"}
    jsonschema_rs.validator_for(schema).validate(body)


@asynccontextmanager
async def started(settings: LedgerSettings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def asgi_client(application: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as http:
        yield http


@pytest.fixture
async def app(ledger_db: str, anvil: Anvil) -> AsyncIterator[Starlette]:
    """No contract: the read endpoints need none."""
    async with started(settings_for(ledger_db, anvil.rpc_url, None)) as application:
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


# ---------------------------------------------------------------- access


@pytest.mark.parametrize(
    "path", ["/ledger/entries", "/ledger/entries/x", "/ledger/export.csv", "/ledger/verify/x"]
)
async def test_every_read_endpoint_wants_a_token(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "path", ["/ledger/entries", "/ledger/entries/x", "/ledger/export.csv", "/ledger/verify/x"]
)
async def test_a_player_token_is_forbidden(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers=bearer("player-9"))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_an_admin_token_reads_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/ledger/entries", headers=bearer("ops", ["admin"]))
    assert response.status_code == 200


# ---------------------------------------------------------------- entries


async def test_an_entry_has_the_spec_shape_with_the_exact_naira_amount(
    ledger_pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    await add_entry(ledger_pool, "bet_abc123", Decimal("5000000.00"))
    await add_entry(ledger_pool, "bet_cents", Decimal("1000000.55"), status="failed")

    one = await client.get("/ledger/entries/bet_abc123", headers=COMPLIANCE)
    cents = await client.get("/ledger/entries/bet_cents", headers=COMPLIANCE)

    assert one.status_code == 200
    body = one.json()
    assert body == {
        "betSlipId": "bet_abc123",
        "betHash": bet_hash("bet_abc123").hex(),
        "winAmount": 5000000,
        "winAmountKobo": 500000000,
        "currency": "NGN",
        "txHash": "0x" + bet_hash("txbet_abc123").hex(),
        "blockNumber": 12345678,
        "network": "polygon-amoy",
        "status": "confirmed",
        "createdAt": "2025-01-15T14:30:00Z",
    }
    conforms(body, "EntryView")
    assert b'"winAmount":1000000.55' in cents.content  # an exact literal, never a float
    assert (cents.json()["txHash"], cents.json()["blockNumber"]) == (None, None)


async def test_an_unknown_bet_slip_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/ledger/entries/bet_nope", headers=COMPLIANCE)
    assert response.status_code == 404


async def test_pages_follow_the_cursor_newest_first_until_it_is_null(
    ledger_pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    ids = [f"bet_page_{i}" for i in range(7)]
    for slip_id in ids:
        await add_entry(ledger_pool, slip_id, Decimal("1000000"))

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/ledger/entries", params=params, headers=COMPLIANCE)
        assert response.status_code == 200
        page = response.json()
        conforms(page, "EntryPage")
        seen += [item["betSlipId"] for item in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == list(reversed(ids))


async def test_entries_filter_by_status_and_creation_dates(
    ledger_pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    await add_entry(ledger_pool, "bet_jan", Decimal("1000000"), created_at=SETTLED)
    await add_entry(
        ledger_pool, "bet_feb", Decimal("1000000"), created_at=SETTLED + timedelta(days=20)
    )
    await add_entry(
        ledger_pool,
        "bet_feb_failed",
        Decimal("1000000"),
        status="failed",
        created_at=SETTLED + timedelta(days=20),
    )

    async def slip_ids(**params: str) -> list[str]:
        response = await client.get("/ledger/entries", params=params, headers=COMPLIANCE)
        assert response.status_code == 200, response.text
        return sorted(item["betSlipId"] for item in response.json()["items"])

    assert await slip_ids(status="failed") == ["bet_feb_failed"]
    assert await slip_ids(**{"from": "2025-02-01"}) == ["bet_feb", "bet_feb_failed"]
    assert await slip_ids(to="2025-01-15") == ["bet_jan"]
    assert await slip_ids(status="confirmed", **{"from": "2025-02-04T00:00:00Z"}) == ["bet_feb"]


async def test_bad_filters_are_422_naming_each_field(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/ledger/entries", params={"status": "won", "cursor": "zzz"}, headers=COMPLIANCE
    )
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["cursor", "status"]


# ---------------------------------------------------------------- CSV export


async def test_the_export_has_the_spec_header_and_rows_exactly_and_neutralises_formulas(
    ledger_pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    await add_entry(ledger_pool, "bet_abc123", Decimal("5000000.00"))
    await add_entry(
        ledger_pool, FORMULA_ID, Decimal("1000000.50"), created_at=SETTLED + timedelta(minutes=30)
    )
    await add_entry(ledger_pool, "bet_waiting", Decimal("2000000"), status="submitted")

    response = await client.get("/ledger/export.csv", headers=COMPLIANCE)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    plain_hash, plain_tx = _hex("bet_abc123"), "0x" + _hex("txbet_abc123")
    formula_hash, formula_tx = _hex(FORMULA_ID), "0x" + _hex("tx" + FORMULA_ID)
    assert response.text.splitlines() == [
        "betSlipId,betHash,winAmount,txHash,blockNumber,timestamp",
        f"bet_abc123,{plain_hash},5000000,{plain_tx},12345678,2025-01-15T14:30:00Z",
        # apostrophe first; the cell is quoted for its commas and its quotes are doubled
        f""""'=HYPERLINK(""http://x"",""y"")",{formula_hash},1000000.50,{formula_tx},"""
        "12345678,2025-01-15T15:00:00Z",
    ]


FORMULA_ID = '=HYPERLINK("http://x","y")'


def get_scope(app: Starlette, path: str) -> dict[str, Any]:
    """A compliance officer's GET as a server hands it to the app: `path` already decoded."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"ledger.test"),
            (b"authorization", COMPLIANCE["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("ledger.test", 80),
        "app": app,
    }


def _hex(text: str) -> str:
    return bet_hash(text).hex()


async def test_the_export_filters_by_creation_date(
    ledger_pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    await add_entry(ledger_pool, "bet_old", Decimal("1000000"), created_at=SETTLED)
    await add_entry(
        ledger_pool, "bet_new", Decimal("1000000"), created_at=SETTLED + timedelta(days=3)
    )

    response = await client.get(
        "/ledger/export.csv", params={"from": "2025-01-16", "to": "2025-01-31"}, headers=COMPLIANCE
    )

    rows = response.text.splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["bet_new"]


async def test_the_export_streams_in_bounded_chunks_rather_than_all_at_once(
    ledger_pool: asyncpg.Pool, app: Starlette
) -> None:
    async with ledger_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount, status,
                   tx_hash, block_number, confirmed_at)
               SELECT 'bet_bulk_' || g, encode(sha256(('bet_bulk_' || g)::bytea), 'hex'),
                      1000000, 'confirmed', '0x' || repeat('a', 64), g, now()
               FROM generate_series(1, 10000) AS g"""
        )
    scope = get_scope(app, "/ledger/export.csv")
    sent: list[Message] = []
    finished = asyncio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client stays connected until the response is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)

    bodies = [m for m in sent if m["type"] == "http.response.body" and m.get("body")]
    total = sum(len(m["body"]) for m in bodies)
    # About 1.8 MB of CSV leaves in many pieces, each sent as COPY produced it; no piece is more
    # than a small fraction of the whole, so the file is never held in memory at once.
    assert len(bodies) >= 5
    assert max(len(m["body"]) for m in bodies) < total / 4
    assert b"".join(m["body"] for m in bodies).count(b"\n") == 10_001


# ---------------------------------------------------------------- verify (real chain)


@pytest.fixture
async def chain_client(
    chain_settings: SettingsFactory,
) -> AsyncIterator[tuple[httpx.AsyncClient, LedgerSettings]]:
    settings = chain_settings()
    async with started(settings) as application, asgi_client(application) as http:
        yield http, settings


async def test_verify_is_true_for_a_recorded_bet_and_false_once_the_database_amount_changes(
    ledger_pool: asyncpg.Pool, chain_client: tuple[httpx.AsyncClient, LedgerSettings]
) -> None:
    client, settings = chain_client
    [win] = big_wins(1)
    slip_id = win[0]
    await add_slips(ledger_pool, [win])
    await make_worker(ledger_pool, settings).tick()

    recorded = await client.get(f"/ledger/verify/{slip_id}", headers=COMPLIANCE)

    assert recorded.status_code == 200, recorded.text
    body = recorded.json()
    conforms(body, "VerificationView")
    assert body["verified"] is True
    assert all(body["checks"].values())
    assert body["onChain"]["winAmountKobo"] == body["database"]["winAmountKobo"] == 100_000_025
    assert body["onChain"]["txHash"] == body["database"]["txHash"]
    assert body["onChain"]["blockNumber"] == body["database"]["blockNumber"]

    async with ledger_pool.acquire() as conn:
        await conn.execute(
            "UPDATE ledger.ledger_entries SET win_amount = win_amount + 1 WHERE bet_slip_id = $1",
            slip_id,
        )
    altered = (await client.get(f"/ledger/verify/{slip_id}", headers=COMPLIANCE)).json()

    assert altered["verified"] is False
    assert altered["checks"]["amount"] is False
    assert altered["checks"]["txHash"]
    assert altered["checks"]["blockNumber"]
    assert altered["onChain"]["winAmount"] == jsonio.loads(b"1000000.25")
    assert altered["database"]["winAmount"] == jsonio.loads(b"1000001.25")


async def test_verify_is_false_for_an_entry_never_recorded_on_chain(
    ledger_pool: asyncpg.Pool, chain_client: tuple[httpx.AsyncClient, LedgerSettings]
) -> None:
    client, _ = chain_client
    await add_entry(ledger_pool, "bet_forged", Decimal("7000000"))

    body = (await client.get("/ledger/verify/bet_forged", headers=COMPLIANCE)).json()

    assert body["verified"] is False
    assert body["checks"]["recordedOnChain"] is False
    assert body["onChain"]["exists"] is False


async def test_verify_of_an_unknown_bet_slip_is_404(
    chain_client: tuple[httpx.AsyncClient, LedgerSettings],
) -> None:
    client, _ = chain_client
    assert (await client.get("/ledger/verify/bet_nope", headers=COMPLIANCE)).status_code == 404


async def test_verify_without_a_configured_contract_is_503(
    ledger_pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    await add_entry(ledger_pool, "bet_any", Decimal("1000000"))
    response = await client.get("/ledger/verify/bet_any", headers=COMPLIANCE)
    assert response.status_code == 503
    assert response.json()["code"] == "chain_not_configured"


# A contract address for apps whose node is down or broken: nothing is ever read from it.
SOME_CONTRACT = "0x00000000000000000000000000000000000b1e55"


@pytest.fixture
async def node_down_app(ledger_db: str) -> AsyncIterator[Starlette]:
    dead_node = f"http://127.0.0.1:{free_port()}"
    async with started(settings_for(ledger_db, dead_node, SOME_CONTRACT)) as application:
        yield application


@pytest.fixture
async def node_down_client(node_down_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(node_down_app) as http:
        yield http


REFUSED = ("validation_failed", 422)
UNKNOWN = ("entry_not_found", 404)


@pytest.mark.parametrize(
    ("raw_id", "expected"),
    [
        pytest.param("%00", REFUSED, id="NUL"),
        pytest.param("bet%00x", REFUSED, id="NUL inside"),
        pytest.param("bet%01x", REFUSED, id="C0 control"),
        pytest.param("bet%09x", REFUSED, id="tab"),
        pytest.param("bet%0Ax", REFUSED, id="newline"),
        pytest.param("bet%1Bx", REFUSED, id="escape"),
        pytest.param("bet%7Fx", REFUSED, id="DEL"),
        pytest.param("bet%C2%85x", REFUSED, id="C1 control"),
        pytest.param("b" * 129, REFUSED, id="129 characters"),
        pytest.param("b" * 5000, REFUSED, id="5000 characters"),
        pytest.param("b" * 128, UNKNOWN, id="128 characters"),
        # the UTF-8 bytes of a lone surrogate, and bytes that are no UTF-8 at all: the server
        # decodes them as U+FFFD, a character we keep, so no entry has such an id
        pytest.param("bet%ED%A0%80x", UNKNOWN, id="encoded lone surrogate"),
        pytest.param("bet%F0%9Fx", UNKNOWN, id="truncated UTF-8"),
        pytest.param("bet%FFx", UNKNOWN, id="not UTF-8"),
        pytest.param("bet%201", UNKNOWN, id="space"),
        pytest.param("%20", UNKNOWN, id="only a space"),
        pytest.param("bet_%E2%82%A6%F0%9F%98%80", UNKNOWN, id="non-ASCII"),
        pytest.param("bet_nope", UNKNOWN, id="unknown"),
    ],
)
async def test_verify_of_a_bad_or_unknown_bet_slip_id_is_our_own_4xx_never_a_502(
    node_down_client: httpx.AsyncClient, raw_id: str, expected: tuple[str, int]
) -> None:
    # The node is down: anything that reached the chain would be a 502.
    response = await node_down_client.get(f"/ledger/verify/{raw_id}", headers=COMPLIANCE)

    assert (response.json()["code"], response.status_code) == expected, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("lone", [chr(0xD800), chr(0xDFFF), chr(0xDCED)], ids=ascii)
async def test_verify_of_a_bet_slip_id_holding_a_lone_surrogate_is_422(
    node_down_app: Starlette, lone: str
) -> None:
    # A server that decodes the path with surrogateescape hands such characters on as they are.
    path = f"/ledger/verify/bet{lone}x"
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await node_down_app(get_scope(node_down_app, path), receive, send)

    [start] = [m for m in sent if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 422
    assert jsonio.loads(body)["code"] == "validation_failed"


async def test_verify_while_the_chain_node_is_down_is_502_chain_unavailable(
    ledger_pool: asyncpg.Pool, node_down_client: httpx.AsyncClient
) -> None:
    await add_entry(ledger_pool, "bet_any", Decimal("1000000"))

    with capture_logs() as logs:
        response = await node_down_client.get("/ledger/verify/bet_any", headers=COMPLIANCE)

    assert response.status_code == 502
    assert response.json()["code"] == "chain_unavailable"
    [logged] = [e for e in logs if e["event"] == "ledger_verify_chain_unavailable"]
    assert logged["log_level"] == "warning"
    assert logged["error"].isidentifier()  # the cause's type, for whoever is on call, no URL


@pytest.mark.parametrize("garbage", list(Garbage), ids=lambda g: g.value)
async def test_verify_against_a_node_answering_garbage_is_502_chain_unavailable(
    ledger_pool: asyncpg.Pool, ledger_db: str, garbage: Garbage
) -> None:
    await add_entry(ledger_pool, "bet_any", Decimal("1000000"))

    async with (
        garbage_node(garbage) as rpc_url,
        started(settings_for(ledger_db, rpc_url, SOME_CONTRACT)) as application,
        asgi_client(application) as http,
    ):
        response = await http.get("/ledger/verify/bet_any", headers=COMPLIANCE)

    assert response.status_code == 502, response.text
    assert response.json()["code"] == "chain_unavailable"


# ---------------------------------------------------------------- the document


def test_the_openapi_document_lists_exactly_the_routes_the_app_serves(app: Starlette) -> None:
    served = {route.path for route in app.routes if isinstance(route, Route)}
    # The service's document: its own routes and the shared operations API under /ledger/ops.
    with_ops = document(
        [api.extended(ops_api("/ledger"))],
        {**ERRORS, **OPS_ERRORS},
        title=api.title,
        description=api.description,
        server_url="http://ledger.test",
    )
    documented = set(with_ops["paths"])
    assert {"/ledger/ops/cases", "/ledger/ops/audit"} <= documented
    assert documented == served - {
        "/metrics",
        "/health",
        "/ready",
        "/ledger/health",
        "/ledger/ready",
        "/ledger/openapi.json",
    }
