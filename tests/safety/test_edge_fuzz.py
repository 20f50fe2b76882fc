"""Fuzzing every part of every request the three services take: each path parameter, query
parameter, header and body of each operation their served OpenAPI documents declare (client and
provider documents, so a new endpoint is fuzzed without editing this file), once directly
against the in-process apps and once through the real dev router, which forwards to the same
apps served by uvicorn on free ports.

Each case changes one part of a request the operation accepts (a token with every role for a
seeded user, a valid body, a signature over the exact bytes sent), so the changed part is what
the service answers. Every answer must be below 500, every 4xx problem+json with a sane
X-Request-Id, and every refusal must leave the database exactly as it was: a row trigger keeps a
digest of every table's rows, so any committed change shows. The one exception is a
notification its provider signed and our parser refused: it must be kept, once, in
`<schema>.refused_notifications` (and may open a case for a person, `<schema>.cases`).

The corpus (tests/safety/edge.py) goes in whole directly and in part through the router
(ROUTER_EVERY), then hypothesis adds random cases (derandomized, no example database: every run
sends the same requests). A breach is recorded and the run goes on, so a failure lists them all.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import asyncpg
import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from betfuz_common.db import create_pool
from betfuz_common.webhooks import WebhookGate
from betfuz_testing.fixtures import FreshDatabase
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import new_user
from dev.router import Rules, create_router, server_config
from ledger.app import create_app as create_ledger_app
from ledger.bet_encoding import bet_hash
from services.ledger.tests.integration.fake_chain import FakeChain
from services.ledger.tests.integration.support import settings_for as ledger_settings
from tests.safety import edge, figures
from tests.safety.support import LoopThread, Services, open_account, services, wema_deposit

Via = Literal["direct", "router"]
Part = Literal["path", "query", "header", "body"]
PARTS: tuple[Part, ...] = ("path", "query", "header", "body")
VIAS: tuple[Via, ...] = ("direct", "router")
ROLES = ("compliance", "admin", "ops")  # every role a route may require: the token passes them
RANDOM_EXAMPLES: dict[Via, int] = {"direct": 15, "router": 5}
# Through the router, every other case of the corpus (every third of the bodies, which it passes
# on as bytes it never reads) and the random ones: each kind of value still reaches every part
# of every operation that way, and the whole corpus goes in directly. (A case through the router
# costs two more HTTP hops; the whole module stays well under two minutes.)
ROUTER_EVERY: dict[Part, int] = {"path": 2, "query": 2, "header": 2, "body": 3}
# No shrinking: a breach is recorded, not raised, so the whole corpus runs and every breach shows.
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SEEN: Counter[str] = Counter()
BY_OPERATION: Counter[tuple[str, str, Part, Via]] = Counter()
STATUSES: Counter[tuple[Via, int]] = Counter()

# A digest of every table's rows (the sum of their hashes), kept by a row trigger in the
# transaction that writes: a write that commits changes its table's digest, one that is rolled
# back does not, and rows put back as they were (a claimed key released) leave it as it was.
WATCH = """
CREATE SCHEMA fuzzwatch;
CREATE TABLE fuzzwatch.digests (tbl TEXT PRIMARY KEY, digest NUMERIC NOT NULL);
CREATE FUNCTION fuzzwatch.track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE change NUMERIC := 0;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN change := change - hashtextextended(OLD::text, 0); END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN change := change + hashtextextended(NEW::text, 0); END IF;
  INSERT INTO fuzzwatch.digests AS d VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, change)
  ON CONFLICT (tbl) DO UPDATE SET digest = d.digest + EXCLUDED.digest;
  RETURN NULL;
END $$;
-- What the cases measure is what commits, not how durably: a commit need not wait for the disk.
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database());
END $$;
DO $$
DECLARE t record;
BEGIN
  FOR t IN SELECT table_schema, table_name FROM information_schema.tables
           WHERE table_type = 'BASE TABLE'
             AND table_schema IN ('public', 'topup', 'treasury', 'ledger')
  LOOP
    EXECUTE format('CREATE TRIGGER fuzzwatch AFTER INSERT OR UPDATE OR DELETE ON %I.%I '
                   'FOR EACH ROW EXECUTE FUNCTION fuzzwatch.track()', t.table_schema, t.table_name);
  END LOOP;
END $$;
"""


@dataclass
class Edge:
    """The apps, directly and behind the router, and what a valid request to each needs."""

    pool: asyncpg.Pool
    clients: dict[str, httpx.AsyncClient]
    router_port: int
    baselines: list[edge.Baseline]
    failures: list[str] = field(default_factory=list)
    # The digests after the last case: nothing else writes between two cases, so they are the
    # next case's "before" (None: read them afresh).
    digests: dict[str, Decimal] | None = None


@pytest.fixture(scope="module")
async def edge_database_url(fresh_database: FreshDatabase) -> str:
    """A database of its own: the counts of writes are this module's alone."""
    url = await fresh_database("edgefuzz")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(WATCH)
    finally:
        await conn.close()
    return url


@asynccontextmanager
async def serve(app: Starlette, config: uvicorn.Config | None = None) -> AsyncIterator[int]:
    """`app` under uvicorn on a free port (httptools, as the services' own `serve` runs them);
    yields the port, stops the server after."""
    # IPPROTO_TCP named, so that asyncio turns Nagle off on each connection (it does only for a
    # socket that says it is TCP): otherwise every keep-alive answer waits 40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = config or uvicorn.Config(
        app,
        http="httptools",
        lifespan="off",  # the harness entered the app's lifespan itself
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def running_edge(database_url: str) -> AsyncIterator[Edge]:
    async with AsyncExitStack() as stack:
        svc = await stack.enter_async_context(services(database_url))
        ledger_app = create_ledger_app(
            ledger_settings(database_url, "http://127.0.0.1:9", FakeChain().contract_address),
            chain_factory=FakeChain().factory(),
        )
        await stack.enter_async_context(ledger_app.router.lifespan_context(ledger_app))
        ledger = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=ledger_app), base_url="http://ledger.test"
            )
        )
        clients = {"topup": svc.topup, "treasury": svc.treasury, "ledger": ledger}
        apps = {name: app_behind(client) for name, client in clients.items()}
        upstreams = {}
        for name, app in apps.items():
            port = await stack.enter_async_context(serve(app))
            upstreams[f"/{name}"] = f"http://127.0.0.1:{port}"
        router = create_router(Rules(upstreams))
        router_port = await stack.enter_async_context(serve(router, server_config(router)))
        pool = await create_pool(database_url, min_size=1, max_size=4)
        stack.push_async_callback(pool.close)
        world = await seed(pool, svc)
        operations = [op for name, client in clients.items() for op in await served(name, client)]
        baselines = [baseline(op, world, apps[op.service]) for op in operations]
        yield Edge(pool, clients, router_port, baselines)


def app_behind(client: httpx.AsyncClient) -> Starlette:
    """The app an in-process client drives (tests/safety/support.py builds topup and treasury)."""
    transport = client._transport  # httpx names no public way back to it
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, Starlette)
    return app


@dataclass(frozen=True)
class World:
    """What the seeded database holds, for valid requests: users, a topup, an account, an entry."""

    tokens: dict[str, str]
    path_values: dict[str, bytes]
    bodies: dict[str, dict[str, Any]]


async def seed(pool: asyncpg.Pool, svc: Services) -> World:
    # The buyer's wallet is empty after one purchase: every later purchase is refused (402).
    buyer = await new_user(pool, Decimal(1000))
    bought = await svc.topup.post(
        "/topup",
        json={"phone": "08030000001", "carrier": "mtn", "amount": 1000, "type": "airtime"},
        headers=bearer(buyer),
    )
    assert bought.status_code == 201, bought.text
    holder = await new_user(pool, Decimal(0))
    account = await open_account(svc, holder)
    body, headers = wema_deposit(account, Decimal("2500.50"), "WEMA-EDGE-1")
    assert (await svc.treasury.post("/treasury/webhook", content=body, headers=headers)).is_success
    slip = "slip-edge-fuzz-1"
    await pool.execute(
        "INSERT INTO public.bet_slips (id, user_id, status, stake, potential_win, settled_at)"
        " VALUES ($1, $2, 'won', 100, 1000000, now())",
        slip,
        holder,
    )
    await pool.execute(
        """INSERT INTO ledger.ledger_entries
             (bet_slip_id, bet_hash, win_amount, status, tx_hash, block_number, confirmed_at)
           VALUES ($1, $2, 1000000, 'confirmed', $3, 7, now())""",
        slip,
        bet_hash(slip).hex(),
        "0x" + "ab" * 32,
    )
    reference = bought.json()["reference"]
    return World(
        tokens={
            "topup": edge.token(buyer, roles=list(ROLES)),
            "treasury": edge.token(holder, roles=list(ROLES)),
            "ledger": edge.token(holder, roles=list(ROLES)),
        },
        path_values={
            "transactionId": bought.json()["transactionId"].encode(),
            "betSlipId": slip.encode(),
        },
        bodies={
            "createTopup": {
                "phone": "08030000009",
                "carrier": "mtn",
                "amount": 1000,
                "type": "airtime",
            },
            "receiveSelcomResult": {
                "order_id": reference,
                "status": "SUCCESS",
                "reference_id": "SEL-" + reference,
                "result_code": "000",
                "result_description": "edge fuzz",
            },
            "createAccount": {
                "bvn": "22212345678",
                "firstName": "Ada",
                "lastName": "Obi",
                "phoneNumber": "+2348012345678",
                "email": "ada.obi@example.com",
            },
            "receiveWemaDeposit": {
                "account_number": account,
                "amount": "2500.50",
                "transaction_reference": "WEMA-EDGE-1",
                "sender_name": "EDGE FUZZ",
                "narration": "deposit",
                "transaction_date": "2026-01-15T14:30:00Z",
            },
        },
    )


async def served(service: str, client: httpx.AsyncClient) -> list[edge.Operation]:
    """Every operation of the service's client and provider documents, as the app serves them."""
    found = []
    for path in (f"/{service}/openapi.json", f"/{service}/providers/openapi.json"):
        response = await client.get(path)
        if response.status_code == 404:
            continue  # a service without provider callbacks
        assert response.status_code == 200, response.text
        found += edge.operations_of(service, response.json())
    assert found, f"{service} serves no operations"
    return found


def baseline(op: edge.Operation, world: World, app: Starlette) -> edge.Baseline:
    gate: WebhookGate | None = app.state.webhook_gate
    signed = gate is not None and gate.header in op.headers
    valid = None
    if op.body_schema is not None:
        valid = world.bodies.get(op.operation_id) or edge.example_body(op.body_schema)
    return edge.Baseline(
        op,
        {name: world.path_values.get(name, b"1") for name in op.path_params},
        world.tokens[op.service] if op.bearer else None,
        valid,
        gate if signed else None,
    )


@pytest.fixture(scope="module")
def edges(edge_database_url: str) -> Iterator[tuple[LoopThread, Edge]]:
    loop = LoopThread()
    opened = running_edge(edge_database_url)
    state = loop.run(opened.__aenter__())
    try:
        yield loop, state
    finally:
        loop.run(opened.__aexit__(None, None, None))
        loop.close()


# --- one case --------------------------------------------------------------------------------


async def digests(pool: asyncpg.Pool) -> dict[str, Decimal]:
    rows = await pool.fetch("SELECT tbl, digest FROM fuzzwatch.digests")
    return {row["tbl"]: row["digest"] for row in rows}


def changed(before: dict[str, Decimal], after: dict[str, Decimal]) -> set[str]:
    return {t for t in before.keys() | after.keys() if before.get(t, 0) != after.get(t, 0)}


async def send_direct(client: httpx.AsyncClient, sent: edge.Sent) -> edge.Answer:
    url = client.base_url.copy_with(raw_path=sent.target)
    request = httpx.Request(sent.method, url, headers=list(sent.headers), content=sent.body)
    response = await client.send(request)
    return edge.Answer(response.status_code, dict(response.headers), response.content)


async def check(state: Edge, op: edge.Operation, part: Part, via: Via, sent: edge.Sent) -> None:
    """Send one case; record what breaks the rule instead of stopping at the first."""
    before = state.digests if state.digests is not None else await digests(state.pool)
    state.digests = None
    wire_invalid = via == "router" and edge.wire_invalid(sent)
    try:
        if via == "direct":
            answer = await send_direct(state.clients[op.service], sent)
        else:
            answer = await edge.send_raw("127.0.0.1", state.router_port, sent)
    except Exception as exc:  # noqa: BLE001 - an exception out of the app is a finding
        state.failures.append(f"{op} {via} {sent.what}: {type(exc).__name__}: {exc}"[:400])
        return
    state.digests = await digests(state.pool)
    written = changed(before, state.digests)
    SEEN[f"cases_{via}"] += 1
    BY_OPERATION[(op.service, op.name, part, via)] += 1
    STATUSES[(via, answer.status)] += 1
    for problem in breaches(op, part, sent, answer, written, wire_invalid):
        SEEN[f"breaches_{via}"] += 1
        if answer.status >= 500:
            SEEN[f"server_errors_{via}"] += 1
        state.failures.append(
            f"{op} {via} {sent.what}: {problem} ({answer.status} {answer.body[:200]!r})"
        )
    if wire_invalid:
        SEEN["router_refused_as_not_http"] += 1
    if sent.signed and answer.status < 500 and f"{op.service}.refused_notifications" in written:
        SEEN["refused_signed_notifications_kept"] += 1


def breaches(
    op: edge.Operation,
    part: Part,
    sent: edge.Sent,
    answer: edge.Answer,
    written: set[str],
    wire_invalid: bool,
) -> Iterator[str]:
    if answer.status >= 500:
        yield "server error"
    if wire_invalid:
        # Bytes no HTTP peer may send: the router's HTTP server refuses them itself (400, in
        # its own words), and nothing reaches a service.
        if answer.status != 400:
            yield "a request that is not HTTP was not refused with 400"
        if written:
            yield f"wrote to {sorted(written)}"
        return
    if sent.refuse is not None and not 400 <= answer.status < 500:
        yield f"{sent.refuse} was not refused"
    if not 400 <= answer.status < 500:
        return
    if not answer.headers.get("content-type", "").startswith("application/problem+json"):
        yield "a 4xx that is not problem+json"
    if not REQUEST_ID.fullmatch(answer.headers.get("x-request-id", "")):
        yield f"x-request-id {answer.headers.get('x-request-id')!r}"
    media = (sent.header(b"content-type") or b"").split(b";")[0].strip().lower()
    if op.body_schema is not None and media == b"application/json" and answer.status == 415:
        yield "a JSON media type in other letter case was refused with 415"
    # A notification its provider signed and our parser refused is kept (once each: see
    # test_signed_notifications_refused_by_the_parser_are_kept_once_each); nothing else is
    # written but the case a service may open for it in the same transaction. Refused before
    # the parser (a NUL in the query), it is not.
    kept = {f"{op.service}.refused_notifications"}
    kept_with_case = written - {f"{op.service}.cases"} == kept
    by_parser = sent.signed and answer.status not in (401, 413)
    if by_parser and part == "body" and not kept_with_case:
        yield f"a signed notification we refused was not kept: wrote to {sorted(written)}"
    elif written and not (by_parser and kept_with_case):
        yield f"a refusal wrote to {sorted(written)}"


async def kept_once(pool: asyncpg.Pool, schema: str, body: bytes) -> bool:
    digest = hashlib.sha256(body).hexdigest()
    count: int = await pool.fetchval(
        f"SELECT count(*) FROM {schema}.refused_notifications WHERE payload_sha256 = $1",  # noqa: S608
        digest,
    )
    return count == 1


# --- the cases of each part ------------------------------------------------------------------


def corpus(base: edge.Baseline, part: Part) -> Iterator[edge.Sent]:
    if part == "path":
        yield from edge.path_cases(base)
    elif part == "query":
        yield from edge.query_cases(base)
    elif part == "header":
        yield from edge.header_cases(base)
    else:
        yield from edge.body_cases(base)


def randomly(base: edge.Baseline, part: Part) -> st.SearchStrategy[edge.Sent] | None:
    """A strategy of random cases for one part of the operation, or None when it has none."""
    op = base.operation
    if part == "path" and op.path_params:
        return st.builds(
            lambda name, raw: base.request(
                f"random path {name}={raw[:40]!r}",
                path={name: raw},
                refuse=edge.refusal(edge.decoded(raw), name in op.numeric),
            ),
            st.sampled_from(op.path_params),
            edge.random_values.map(edge.url_encoded),
        )
    if part == "query":
        pair = st.tuples(
            st.sampled_from([*op.query_params, "zzz"]), edge.random_values.map(edge.url_encoded)
        )
        return st.lists(pair, min_size=1, max_size=4).map(
            lambda pairs: base.request(
                "random query", query=b"&".join(n.encode() + b"=" + v for n, v in pairs)
            )
        )
    if part == "header":
        names = [b"authorization", b"content-type", b"idempotency-key", b"x-request-id", b"x-b"]
        if base.gate is not None:
            names.append(base.gate.header.lower().encode())
        value = st.binary(max_size=300) | edge.random_values.map(edge.header_bytes)
        return st.builds(
            lambda name, v: base.request("random header").with_header(name, v, f"random {name!r}"),
            st.sampled_from(names),
            value,
        )
    if part == "body" and base.valid:  # (mutations need a field to change)
        return edge.mutated(base.valid).map(lambda body: base.request("random body", body=body))
    return None


def random_cases(
    loop: LoopThread,
    state: Edge,
    op: edge.Operation,
    part: Part,
    via: Via,
    strategy: st.SearchStrategy[edge.Sent],
) -> None:
    @settings(FUZZ, max_examples=RANDOM_EXAMPLES[via])
    @given(sent=strategy)
    def random_case(sent: edge.Sent) -> None:
        loop.run(check(state, op, part, via, sent))

    random_case()


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("part", PARTS)
def test_no_part_of_any_request_gets_a_5xx_or_a_write_when_refused(
    edges: tuple[LoopThread, Edge], part: Part, via: Via
) -> None:
    loop, state = edges
    state.failures.clear()
    state.digests = None
    for base in state.baselines:
        for index, sent in enumerate(corpus(base, part)):
            if via == "router" and index % ROUTER_EVERY[part]:
                continue
            loop.run(check(state, base.operation, part, via, sent))
        strategy = randomly(base, part)
        if strategy is not None:
            random_cases(loop, state, base.operation, part, via, strategy)
    assert not state.failures, f"{len(state.failures)} breaches:\n" + "\n".join(state.failures[:40])


def test_signed_notifications_refused_by_the_parser_are_kept_once_each(
    edges: tuple[LoopThread, Edge],
) -> None:
    """Every signed notification the body fuzz had refused is in refused_notifications once,
    however often it was sent (a redelivery adds to `deliveries`, not a row)."""
    loop, state = edges

    async def go() -> Counter[str]:
        found: Counter[str] = Counter()
        for base in state.baselines:
            if base.gate is None:
                continue
            for sent in edge.body_cases(base):
                answer = await send_direct(state.clients[base.operation.service], sent)
                if 400 <= answer.status < 500 and answer.status != 401:
                    assert await kept_once(state.pool, base.operation.service, sent.body), sent.what
                    found[base.operation.service] += 1
        return found

    found = loop.run(go())
    assert found, "no signed notification was refused"
    SEEN["refused_signed_notifications_checked"] = sum(found.values())


def test_zz_edge_fuzz_figures_are_recorded() -> None:
    """Runs after the fuzz tests in this module (file order) and records what they sent."""
    by_operation: dict[str, dict[str, dict[str, int]]] = {}
    for (service, name, part, via), count in sorted(BY_OPERATION.items()):
        by_operation.setdefault(f"{service} {name}", {}).setdefault(part, {})[via] = count
    figures.record(
        "edge_fuzz",
        {
            "test": "tests/safety/test_edge_fuzz.py",
            "operations": len(by_operation),
            "cases": {via: SEEN[f"cases_{via}"] for via in VIAS},
            "server_errors": {via: SEEN[f"server_errors_{via}"] for via in VIAS},
            "rule_breaches": {via: SEEN[f"breaches_{via}"] for via in VIAS},
            "random_examples_per_operation_and_part": RANDOM_EXAMPLES,
            "refused_as_not_http_by_the_router": SEEN["router_refused_as_not_http"],
            "refused_signed_notifications_kept": SEEN["refused_signed_notifications_kept"],
            "refused_signed_notifications_found_once_each": SEEN[
                "refused_signed_notifications_checked"
            ],
            "by_operation_part_and_via": by_operation,
            "by_status": {
                via: {str(s): n for (v, s), n in sorted(STATUSES.items()) if v == via}
                for via in VIAS
            },
        },
    )
    assert SEEN["cases_direct"] > 0
    assert SEEN["cases_router"] > 0
