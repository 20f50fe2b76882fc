"""The ledger's cases, each opened in the transaction that records its exception."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from betfuz_common.db import Conn
from betfuz_common.ops.domain import Case
from betfuz_common.ops.service import open_case
from ledger.domain import CaseKind, Entry
from ledger.operations import OPERATIONS


def _refs(entry: Entry) -> dict[str, Any]:
    return {
        "betSlipId": entry.bet_slip_id,
        "entryId": entry.id,
        "txHash": entry.tx_hash,
        "blockNumber": entry.block_number,
    }


async def entries_failing(conn: Conn, entries: Sequence[Entry]) -> None:
    """Entries that failed past their retries. One case per round: after an ops retry, failing
    again is a new case, not a count on the resolved one."""
    for entry in entries:
        await open_case(
            conn,
            OPERATIONS,
            kind=CaseKind.ENTRY_FAILING,
            subject=f"entry-{entry.id}/round-{entry.ops_retries}",
            reason=f"failed {entry.attempts} attempts to record: {entry.error_message}",
            refs=_refs(entry),
            amounts={"payout": entry.win_amount},
            detail={"attempts": entry.attempts, "error": entry.error_message},
        )


async def entries_unrecordable(conn: Conn, entries: Sequence[Entry]) -> None:
    for entry in entries:
        await open_case(
            conn,
            OPERATIONS,
            kind=CaseKind.ENTRY_UNRECORDABLE,
            subject=f"entry-{entry.id}",
            reason=f"can never be recorded on chain: {entry.error_message}",
            refs=_refs(entry),
            amounts={"payout": entry.win_amount},
            detail={"error": entry.error_message},
        )


async def audit_mismatch(
    conn: Conn, entry: Entry, failed: Sequence[str], chain: dict[str, Any]
) -> Case:
    """The same disagreement found again counts on its case; another one (a row changed since,
    or re-read from the chain) is a case of its own."""
    return await open_case(
        conn,
        OPERATIONS,
        kind=CaseKind.AUDIT_MISMATCH,
        subject=(
            f"entry-{entry.id}/{entry.tx_hash}/{entry.block_number}/{entry.win_amount}"
            f"/{entry.bet_hash[:16]}"
        ),
        reason="the chain does not match the confirmed entry: " + ", ".join(failed),
        refs=_refs(entry),
        amounts={"payout": entry.win_amount},
        detail={"failedChecks": list(failed), "chain": chain},
    )
