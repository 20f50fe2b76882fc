"""Deliver signed deposit webhooks, with duplicates and out-of-order deliveries on request."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

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
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def one(payload: dict[str, Any]) -> None:
            body = jsonio.dumps(payload)
            signature = sign(body, b"wrong" + secret if bad_signature else secret, "sha512")
            async with gate:
                response = await client.post(
                    url,
                    content=body,
                    headers={"content-type": "application/json", "x-wema-signature": signature},
                )
            statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                outcomes[str(response.json().get("status"))] += 1

        await asyncio.gather(*(one(payload) for payload in deliveries))
    return {"deliveries": len(deliveries), "statuses": statuses, "outcomes": outcomes}
