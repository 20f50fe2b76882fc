"""What the ledger refuses, without HTTP; ERRORS is how the edge answers each."""

from __future__ import annotations

from betfuz_common.errors import PROVIDER_ERROR, SHARED_ERRORS, ErrorMap, ProblemType


class EntryNotFound(Exception):
    pass


class ChainNotConfigured(Exception):
    """No contract address is configured: nothing can be read from the chain."""


class ChainUnavailable(Exception):
    """The chain node could not be read (not our own error: those keep their meaning)."""


ERRORS: ErrorMap = {
    EntryNotFound: ProblemType(
        404, "entry_not_found", "Not found", "no ledger entry for this bet slip"
    ),
    ChainNotConfigured: ProblemType(
        503,
        "chain_not_configured",
        "Chain not configured",
        "LEDGER_CONTRACT_ADDRESS is not set",
        headers={"Retry-After": "60"},
    ),
    ChainUnavailable: ProblemType(
        PROVIDER_ERROR.status,
        "chain_unavailable",
        "Bad gateway",
        "the chain node could not be read",
    ),
    **SHARED_ERRORS,
}
