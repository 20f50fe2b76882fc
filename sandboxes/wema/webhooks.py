"""Deliver signed deposit webhooks, with duplicates and out-of-order deliveries on request."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from betfuz_common import jsonio
from betfuz_common.signatures import sign


def build_deposits(order: dict[str, Any]) -> list[dict[str, Any]]:
    """`deposits` distinct transfers, a minute apart, oldest first."""
    count = int(order.get("deposits", 1))
    base = order.get("reference") or f"WEMA-TXN-{uuid.uuid4().hex[:16].upper()}"
    now = datetime.now(UTC).replace(microsecond=0)
    amount = order["amount"]
    if isinstance(amount, str):
        amount = Decimal(amount)
    payloads = []
    for index in range(count):
        payloads.append(
            {
                "account_number": order["account_number"],
                "amount": amount,
                "transaction_reference": base if count == 1 else f"{base}-{index + 1}",
                "sender_name": order.get("sender_name", "MARY JANE"),
                "sender_account": order.get("sender_account", "9876543210"),
                "sender_bank": order.get("sender_bank", "Access Bank"),
                "narration": order.get("narration", "Deposit to Betfuz"),
                "transaction_date": (now - timedelta(minutes=count - index))
                .isoformat()
                .replace("+00:00", "Z"),
            }
        )
    return payloads


def delivery_order(
    payloads: list[dict[str, Any]], duplicates: int, out_of_order: bool
) -> list[dict[str, Any]]:
    """Out of order: newest first, and each duplicate round arrives after all the originals."""
    ordered = list(reversed(payloads)) if out_of_order else payloads
    return [payload for _ in range(duplicates) for payload in ordered]


async def deliver(
    url: str,
    secret: bytes,
    deliveries: list[dict[str, Any]],
    *,
    concurrency: int,
    bad_signature: bool = False,
) -> dict[str, Any]:
    """POST every delivery, up to `concurrency` at once, each on its own connection."""
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    key = b"wrong" + secret if bad_signature else secret
    signed: dict[int, tuple[bytes, str]] = {}

    async def one(payload: dict[str, Any]) -> None:
        # Duplicates are the same object: serialise and sign each distinct payload once.
        if id(payload) not in signed:
            body = jsonio.dumps(payload)
            signed[id(payload)] = (body, sign(body, key, "sha512"))
        body, signature = signed[id(payload)]
        headers = {"content-type": "application/json", "x-wema-signature": signature}
        async with gate:
            status, content = await post(url, body, headers)
        statuses[str(status)] += 1
        if status == 200:
            try:
                outcomes[str(jsonio.loads(content).get("status"))] += 1
            except (jsonio.JsonError, AttributeError):
                outcomes["unreadable"] += 1

    await asyncio.gather(*(one(payload) for payload in deliveries))
    return {"deliveries": len(deliveries), "statuses": statuses, "outcomes": outcomes}


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """A bare HTTP/1.1 POST for plain-http targets.

    httpx spends milliseconds of CPU per request, which made a thousand-delivery burst measure
    the client rather than the service; a connection per request is also the most concurrent.
    """
    target = urlsplit(url)
    if target.scheme != "http" or target.hostname is None:
        async with httpx.AsyncClient(timeout=120) as client:
            response = await client.post(url, content=body, headers=headers)
            return response.status_code, response.content
    port = target.port or 80
    reader, writer = await asyncio.open_connection(target.hostname, port)
    try:
        lines = [
            f"POST {target.path or '/'} HTTP/1.1",
            f"host: {target.hostname}:{port}",
            f"content-length: {len(body)}",
            "connection: close",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 120)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, content = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():  # e.g. through the dev router
        content = dechunk(content)
    return int(head.split(b" ", 2)[1]), content


def dechunk(data: bytes) -> bytes:
    body = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body += data[:size]
        data = data[size + 2 :]
    return bytes(body)
