"""A JSON-RPC "node" on a loopback port that answers garbage, one way per mode.

Each mode is an answer a broken node, a proxy or a misrouted URL can really give: an HTML page,
an HTTP error, results of the wrong shape, or the right chain id with a contract call answered
by bytes that do not decode.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

ANVIL_CHAIN_ID = "0x7a69"  # 31337: what the test settings expect, so the connection is made


class Garbage(enum.Enum):
    HTML_PAGE = "html page"
    HTTP_ERROR = "http error"
    WRONG_TYPES = "wrong types"
    UNDECODABLE_CALL = "undecodable call"


def _rpc_answer(mode: Garbage, request: dict[str, object]) -> bytes:
    method = request.get("method")
    if mode is Garbage.WRONG_TYPES:
        result: object = {"not": "a quantity"}
    elif method == "eth_chainId":
        result = ANVIL_CHAIN_ID
    elif method == "eth_call":
        result = "0x1234"  # two bytes where (uint56, uint40, address) needs 96
    else:
        result = "0x0"
    return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result}).encode()


def _response(mode: Garbage, body: bytes) -> bytes:
    if mode is Garbage.HTML_PAGE:
        status, content_type, payload = "200 OK", "text/html", b"<html>upstream says hi</html>"
    elif mode is Garbage.HTTP_ERROR:
        status, content_type, payload = "502 Bad Gateway", "text/html", b"<h1>502</h1>"
    else:
        status, content_type = "200 OK", "application/json"
        payload = _rpc_answer(mode, json.loads(body))
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


async def _serve(mode: Garbage, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        writer.write(_response(mode, await reader.readexactly(length)))
        await writer.drain()
    finally:
        writer.close()


@asynccontextmanager
async def garbage_node(mode: Garbage) -> AsyncIterator[str]:
    """Serves until the block ends; yields its URL."""
    server = await asyncio.start_server(
        lambda reader, writer: _serve(mode, reader, writer), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
