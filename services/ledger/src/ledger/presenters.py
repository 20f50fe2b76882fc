"""How entries look on the wire: the spec's camelCase shape, Naira as exact numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ledger.repository import Entry


def naira(amount: Decimal) -> str:
    """5000000.00 -> "5000000" as the spec shows; 1234.50 stays "1234.50" (exact either way)."""
    return (
        str(amount.quantize(Decimal(1)))
        if amount == amount.to_integral_value()
        else f"{amount:.2f}"
    )


def naira_number(amount: Decimal) -> Decimal | int:
    return int(amount) if amount == amount.to_integral_value() else amount


def utc_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "betSlipId": entry.bet_slip_id,
        "betHash": entry.bet_hash,
        "winAmount": naira_number(entry.win_amount),
        "txHash": entry.tx_hash,
        "blockNumber": entry.block_number,
        "network": entry.network,
        "status": entry.status,
        "createdAt": utc_timestamp(entry.created_at),
    }
