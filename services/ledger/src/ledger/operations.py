"""The ledger's operations: the actions a person takes on its cases (betfuz_common.ops).

Ledger actions move no wallet money. Which need four eyes, and why:

- `retry` applies at once. It only puts an entry back in the worker's queue, and the worker
  cannot record a slip twice: it looks on chain before sending anything a previous run may have
  sent, and BetLedger's `recordBets` skips a hash it already holds. The worst a wrong retry
  costs is one more failed attempt (and its gas).
- `dismiss` waits for a second ops user. It is the one way a settled win stays out of the
  regulator's on-chain record for good, or a disagreement between our books and the chain is
  closed without a fix; the person who could have caused either (a bad row, a tampered one)
  must not be able to silence it alone.
"""

from __future__ import annotations

from typing import Any

from betfuz_common.ops.domain import (
    ActionContext,
    ActionRefused,
    ActionSpec,
    Applied,
    Case,
    Operations,
    Prepared,
)
from ledger import repository as repo
from ledger.domain import CaseKind, Entry

# The audit's checks a re-read from the chain can settle: where the win was recorded. An amount
# or a bet hash that differs cannot be fixed by reading again (the contract holds one record
# per bet, for good).
REREADABLE_CHECKS = frozenset({"recorded_on_chain", "tx_hash", "block_number"})


def _entry_id(case: Case) -> int:
    return int(case.refs["entryId"])


def _state(entry: Entry) -> dict[str, Any]:
    return {
        "entryId": entry.id,
        "betSlipId": entry.bet_slip_id,
        "status": entry.status.value,
        "setAside": entry.set_aside_at is not None,
        "opsRetries": entry.ops_retries,
    }


async def retry(ctx: ActionContext) -> Applied:
    """Back in the worker's queue, due now: once per case (the case resolves with it)."""
    entry_id = _entry_id(ctx.case)
    if ctx.case.kind == CaseKind.AUDIT_MISMATCH:
        failed = set(ctx.case.detail.get("failedChecks", ()))
        if not failed <= REREADABLE_CHECKS:
            raise ActionRefused(
                "a re-read cannot settle a mismatch of "
                + ", ".join(sorted(failed - REREADABLE_CHECKS))
                + ": the contract keeps one record per bet"
            )
        entry = await repo.requeue_confirmed(
            ctx.conn, entry_id, error=f"audit mismatch (case {ctx.case.id}): read again by ops"
        )
    else:
        entry = await repo.requeue_set_aside(ctx.conn, entry_id)
    if entry is None:
        raise ActionRefused("the entry is no longer where this case left it: nothing to retry")
    return Applied({"requeued": True, **_state(entry)})


async def dismiss(ctx: ActionContext) -> Applied:
    """Closes the case and leaves the entry as it is (set aside, or confirmed)."""
    entry = await repo.get_entry_by_id(ctx.conn, _entry_id(ctx.case))
    if entry is None:
        raise ActionRefused("the entry of this case does not exist")
    return Applied({"dismissed": True, **_state(entry)})


async def four_eyes(_: Case, __: Any, ___: Any) -> Prepared:
    return Prepared(needs_approval=True)


OPERATIONS = Operations(
    "ledger",
    [
        ActionSpec(
            "retry",
            frozenset({CaseKind.ENTRY_FAILING, CaseKind.AUDIT_MISMATCH}),
            False,
            retry,
            description="put the entry back in the worker's queue (it never records twice)",
        ),
        ActionSpec(
            "dismiss",
            frozenset(CaseKind),
            False,
            dismiss,
            prepare=four_eyes,
            description="close the case and leave the entry as it is; needs a second ops user",
        ),
    ],
)
