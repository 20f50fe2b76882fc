"""The local load balancer passes on what an ALB would and invents no 5xx of its own.

Odd requests go through dev/router.py to a tiny upstream served by uvicorn with httptools (as
the services are); each test asserts that the upstream's answer is what comes back. Requests are
written as raw bytes so that no client library tidies them up on the way.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from dev.router import Rules, create_router, listening_socket, server_config, write_rules

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def echo_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """Says back exactly what reached it: raw path, query, header bytes and body."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/topup/slow":
        await asyncio.sleep(2)
    echoed = {
        "method": scope["method"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "body": body.decode("latin-1"),
    }
    await send(
        {
            "type": "http.response.start",
            "status": 207 if scope["path"] == "/topup/odd-status" else 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"set-cookie", b"a=1"),
                (b"set-cookie", b"b=2"),
                (b"x-upstream", "café".encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(echoed).encode()})


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    def json(self) -> Any:
        return json.loads(self.body)


@asynccontextmanager
async def serving(app: Any, *sockets: socket.socket, **config: Any) -> AsyncIterator[None]:
    settings = server_config(app) if not config else uvicorn.Config(app, **config)
    server = uvicorn.Server(settings)
    task = asyncio.create_task(server.serve(sockets=list(sockets)))
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@dataclass
class Stack:
    production: int
    test: int
    upstream: str
    rules_file: Path


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    upstream_socket = listening_socket("127.0.0.1", 0)
    upstream = f"http://127.0.0.1:{upstream_socket.getsockname()[1]}"
    production, test = listening_socket("127.0.0.1", 0), listening_socket("127.0.0.1", 0)
    test_port = test.getsockname()[1]
    rules = Rules({"/topup": upstream, "/ledger": upstream}, tmp_path / "rules.json")
    router = create_router(rules, test_ports=frozenset({test_port}), timeout_seconds=0.5)
    upstream_config = {"http": "httptools", "log_level": "warning"}
    async with (
        serving(echo_upstream, upstream_socket, **upstream_config),
        serving(router, production, test),
    ):
        yield Stack(production.getsockname()[1], test_port, upstream, tmp_path / "rules.json")


async def exchange(port: int, request: bytes) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = [
        (name.decode("latin-1").lower(), value.decode("latin-1").strip())
        for name, _, value in (line.partition(b":") for line in lines)
    ]
    if ("transfer-encoding", "chunked") in headers:
        body = dechunk(body)
    return Answer(int(status_line.split()[1]), headers, body)


def dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out, data = out + rest[:size], rest[size + 2 :]


def get(target: bytes, *headers: bytes) -> bytes:
    lines = [b"GET " + target + b" HTTP/1.1", b"host: api.test", *headers, b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def test_the_router_answers_its_own_health_check(stack: Stack) -> None:
    answer = await exchange(stack.production, get(b"/health"))
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}


async def test_a_nul_in_the_path_reaches_the_upstream_percent_encoded(stack: Stack) -> None:
    answer = await exchange(stack.production, get(b"/topup/a%00b%2Fc?q=%00&x=%20y"))
    assert answer.status == 200
    assert answer.json()["raw_path"] == "/topup/a%00b%2Fc"
    assert answer.json()["query"] == "q=%00&x=%20y"


async def test_a_non_ascii_header_value_reaches_the_upstream_byte_for_byte(stack: Stack) -> None:
    answer = await exchange(stack.production, get(b"/topup/x", "x-name: Zoë Ọlá".encode()))
    assert answer.status == 200
    sent = dict(answer.json()["headers"])
    assert sent["x-name"].encode("latin-1") == "Zoë Ọlá".encode()
    assert answer.header("x-upstream") == ["café".encode().decode("latin-1")]


async def test_a_header_value_with_a_trailing_space_is_forwarded_without_it(stack: Stack) -> None:
    answer = await exchange(stack.production, get(b"/topup/x", b"x-padded: value \t"))
    assert answer.status == 200
    assert dict(answer.json()["headers"])["x-padded"] == "value"


async def test_the_upstream_status_body_and_repeated_headers_come_back_unchanged(
    stack: Stack,
) -> None:
    answer = await exchange(stack.production, get(b"/topup/odd-status"))
    assert answer.status == 207
    assert answer.header("set-cookie") == ["a=1", "b=2"]
    assert answer.json()["method"] == "GET"


async def test_proxied_answers_carry_one_date_and_at_most_one_server_header(stack: Stack) -> None:
    answer = await exchange(stack.production, get(b"/topup/x"))
    assert len(answer.header("date")) == 1
    assert len(answer.header("server")) <= 1


async def test_hop_by_hop_headers_stay_on_their_hop_and_the_client_is_named(stack: Stack) -> None:
    answer = await exchange(
        stack.production, get(b"/topup/x", b"x-forwarded-for: 203.0.113.9", b"keep-alive: 5")
    )
    sent = dict(answer.json()["headers"])
    assert "keep-alive" not in sent
    assert sent.get("connection") != "close"  # the client's connection, not the upstream's
    assert sent["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert sent["host"] == "api.test"


async def test_a_post_body_is_forwarded_whole(stack: Stack) -> None:
    body = b'{"amount": "100.00"}'
    request = (
        b"POST /topup/webhook HTTP/1.1\r\nhost: api.test\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )
    answer = await exchange(stack.production, request)
    assert answer.json()["body"] == body.decode()
    assert ["content-length", str(len(body))] in answer.json()["headers"]


async def test_a_path_outside_every_rule_is_a_problem_404(stack: Stack) -> None:
    for path in (b"/nowhere", b"/topupx"):
        answer = await exchange(stack.production, get(path))
        assert answer.status == 404
        assert answer.header("content-type") == ["application/problem+json"]


async def test_an_unreachable_upstream_is_a_problem_502(stack: Stack) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    write_rules(stack.rules_file, {"production": {"/topup": dead}})
    answer = await exchange(stack.production, get(b"/topup/x"))
    assert answer.status == 502
    assert answer.header("content-type") == ["application/problem+json"]
    assert answer.json()["status"] == 502


async def test_an_upstream_that_does_not_answer_in_time_is_a_problem_504(stack: Stack) -> None:
    answer = await exchange(stack.production, get(b"/topup/slow"))
    assert answer.status == 504
    assert answer.json()["title"] == "Gateway Timeout"


async def test_the_test_listener_follows_its_own_rules(stack: Stack) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    # Green (here: nothing listening) behind the test listener only, as during a deployment.
    write_rules(stack.rules_file, {"test": {"/topup": dead}})
    assert (await exchange(stack.test, get(b"/topup/x"))).status == 502
    assert (await exchange(stack.production, get(b"/topup/x"))).status == 200
    # Production moves; a later file replaces the earlier one whole.
    write_rules(stack.rules_file, {"production": {"/topup": dead}})
    assert (await exchange(stack.production, get(b"/topup/x"))).status == 502
    assert (await exchange(stack.test, get(b"/topup/x"))).status == 200


async def test_an_unreadable_rules_file_keeps_the_rules_in_force(stack: Stack) -> None:
    write_rules(stack.rules_file, {"production": {"/topup": stack.upstream}})
    assert (await exchange(stack.production, get(b"/topup/x"))).status == 200
    stack.rules_file.write_text("{not json")
    assert (await exchange(stack.production, get(b"/topup/x"))).status == 200


async def test_a_newline_anywhere_in_the_path_reaches_the_upstream_percent_encoded(
    stack: Stack,
) -> None:
    answer = await exchange(stack.production, get(b"/topup/ops/cases/%0A/actions?x=%0D%0A"))
    assert answer.status == 200
    assert answer.json()["raw_path"] == "/topup/ops/cases/%0A/actions"
    assert answer.json()["query"] == "x=%0D%0A"
