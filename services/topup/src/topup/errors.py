"""What topup refuses, without HTTP; ERRORS is how the edge answers each (create_service_app)."""

from __future__ import annotations

from betfuz_common.errors import SHARED_ERRORS, ErrorMap, ProblemType


class InsufficientFunds(Exception):
    """The wallet does not cover the topup; nothing was written."""


class TopupNotFound(Exception):
    """No such topup for this caller (another user's topup is the same as none)."""


class TopupNotPending(Exception):
    """An operations action for a pending topup found it settled (by a webhook or a query
    meanwhile): nothing changed."""

    def __init__(self, status: object) -> None:
        super().__init__(f"the topup is already {status}")


ERRORS: ErrorMap = {
    InsufficientFunds: ProblemType(
        402,
        "insufficient_funds",
        "Insufficient funds",
        "your wallet balance does not cover this topup",
    ),
    TopupNotFound: ProblemType(404, "topup_not_found", "Not found", "no such topup"),
    **SHARED_ERRORS,
}
