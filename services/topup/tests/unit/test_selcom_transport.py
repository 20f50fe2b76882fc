"""The Selcom client as it ships (httpx's API on aiohttp's engine) against a real socket on
127.0.0.1: an answer is read as the mock-transport tests read it, and every way of getting no
answer (too slow, connection dropped, nobody listening) leaves the topup pending."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from betfuz_common import jsonio
from betfuz_common.settings import load_settings
from betfuz_testing.processes import free_port
from topup.config import TopupSettings
from topup.ports import ProcessOrder
from topup.provider import SelcomProvider
from topup.runtime import provider_transport, selcom_client, selcom_http_client

ORDER = ProcessOrder("TOPREAL1", "mtn", "airtime", "+2348030000001", Decimal("500"))
LIMITS = httpx.Limits(max_connections=10)
Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def settings(base_url: str, timeout: float = 5.0) -> TopupSettings:
    return load_settings(
        TopupSettings,
        {
            "APP_ENV": "test",
            "DATABASE_URL": "postgresql://unused@127.0.0.1/unused",
            "JWT_SECRET": "unit-jwt-secret-0123456789abcdef0123456789",
            "SELCOM_API_SECRET": "unit-selcom-secret",
            "SELCOM_BASE_URL": base_url,
            "SELCOM_TIMEOUT_SECONDS": str(timeout),
        },
    )


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


@asynccontextmanager
async def selcom(answer: Answer) -> AsyncIterator[str]:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


@asynccontextmanager
async def shipped_client(base_url: str, seconds: float = 5.0) -> AsyncIterator[SelcomProvider]:
    config = settings(base_url, seconds)
    async with selcom_http_client(config) as http:
        assert isinstance(http._transport, AiohttpTransport)
        yield selcom_client(config, http)


async def test_a_signed_order_goes_out_in_one_piece_and_selcom_s_success_comes_back() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        body = jsonio.dumps({"resultcode": "000", "reference": "SEL-REAL-1", "message": "ok"})
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    async with selcom(answer) as url, shipped_client(url) as client:
        result = await client.process(ORDER)
    assert (result.outcome, result.result_code, result.external_reference) == (
        "success",
        "000",
        "SEL-REAL-1",
    )
    head, body = seen[0]
    assert head.startswith(b"POST /v1/utilitypayment/process HTTP/1.1\r\n")
    assert b"\r\nauthorization: selcom " in head.lower()
    assert jsonio.loads(body)["transid"] == "TOPREAL1"


async def test_a_selcom_slower_than_the_timeout_leaves_the_topup_pending() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(3)  # past the client's 0.3 s: the order's fate is unknown
        writer.close()

    async with selcom(answer) as url, shipped_client(url, seconds=0.3) as client:
        result = await client.process(ORDER)
    assert (result.outcome, result.result_code) == ("pending", None)


async def test_a_connection_dropped_before_any_answer_leaves_the_topup_pending() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()  # Selcom may have the order: nothing said, nothing decided

    async with selcom(answer) as url, shipped_client(url) as client:
        result = await client.process(ORDER)
    assert (result.outcome, result.result_code) == ("pending", None)


async def test_an_answer_cut_off_mid_body_leaves_the_topup_pending() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n{"resultcode": "05')
        await writer.drain()
        writer.close()

    async with selcom(answer) as url, shipped_client(url) as client:
        result = await client.process(ORDER)
    assert (result.outcome, result.result_code) == ("pending", None)


async def test_nobody_listening_leaves_the_topup_pending() -> None:
    async with shipped_client(f"http://127.0.0.1:{free_port()}") as client:
        result = await client.process(ORDER)
    assert (result.outcome, result.result_code) == ("pending", None)


def test_a_proxy_named_for_selcom_s_scheme_keeps_httpx_s_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(provider_transport("https://apigw.selcom.test", LIMITS), AiohttpTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert provider_transport("https://apigw.selcom.test", LIMITS) is None
    monkeypatch.setenv("NO_PROXY", "apigw.selcom.test")
    assert isinstance(provider_transport("https://apigw.selcom.test", LIMITS), AiohttpTransport)
