"""The coalescing transport: one write per event-loop turn, bytes in order, nothing lost on close;
and a real uvicorn server on the protocol answering whole responses, streamed ones included."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from betfuz_common.http_protocol import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0


async def one_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_made_in_one_turn_leave_as_one_write_in_their_order() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(memoryview(b"body"))
    assert inner.writes == []  # not yet: the turn has not ended
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    await one_turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]


async def test_writes_in_later_turns_are_later_writes() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    for chunk in (b"a", b"b", b"c"):
        transport.write(chunk)
        await one_turn()
    assert inner.writes == [b"a", b"b", b"c"]


async def test_closing_sends_what_is_buffered_first() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert (inner.writes, inner.closed) == ([b"last words"], True)
    await one_turn()
    assert inner.writes == [b"last words"]  # the scheduled flush finds nothing left


async def test_aborting_drops_what_is_buffered_and_nothing_is_written_after() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"never")
    transport.abort()
    await one_turn()
    assert (inner.writes, inner.aborted) == ([], True)


async def test_nothing_is_written_to_a_transport_already_closing() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"too late")
    inner.closed = True  # the peer went away in this turn
    await one_turn()
    assert inner.writes == []


async def small(_: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def streamed(_: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(50):
            yield b"%d," % n * 100
            await asyncio.sleep(0)

    return StreamingResponse(chunks(), media_type="text/plain")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/small", small), Route("/streamed", streamed)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http=CoalescingHttpToolsProtocol, log_config=None, lifespan="off")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve(sockets=[sock]))
    while not running.started:  # noqa: ASYNC110 - uvicorn's Server has a flag, no event
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    await task


async def test_a_server_on_the_protocol_answers_whole_and_streamed_responses(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        answers = await asyncio.gather(*(client.get("/small") for _ in range(20)))
        body = (await client.get("/streamed")).content
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"ok": True})] * 20
    assert body == b"".join(b"%d," % n * 100 for n in range(50))
