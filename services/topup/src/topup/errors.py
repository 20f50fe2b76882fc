"""Domain errors the service raises; the routes turn them into problem+json."""

from __future__ import annotations

from betfuz_common.errors import Problem, not_found


class InsufficientFunds(Exception):
    """The wallet does not cover the topup; nothing was written."""


class TopupNotFound(Exception):
    """No such topup for this caller (another user's topup is the same as none)."""


def to_problem(exc: Exception) -> Problem:
    if isinstance(exc, InsufficientFunds):
        return Problem(
            402,
            "Insufficient funds",
            detail="your wallet balance does not cover this topup",
            code="insufficient_funds",
        )
    if isinstance(exc, TopupNotFound):
        return not_found("no such topup")
    raise TypeError(f"not a topup domain error: {exc!r}")
