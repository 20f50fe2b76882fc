"""How a bet is written on chain: its id as a SHA-256 hash, its win as integer kobo."""

import hashlib
from decimal import Decimal

from betfuz_common.money import MoneyError, to_kobo

# The contract stores amounts as uint56 (see contracts/BetLedger.sol).
MAX_KOBO = 2**56 - 1


class Unrecordable(ValueError):
    """A win the contract can never hold: recording it would fail however often it is tried."""


def bet_hash(bet_id: str) -> bytes:
    """SHA-256 of the bet slip id's UTF-8 bytes (the spec's "bet hash"); 32 bytes."""
    return hashlib.sha256(bet_id.encode("utf-8")).digest()


def chain_amount(naira: Decimal) -> int:
    """The win in kobo as the contract holds it; Unrecordable when it cannot."""
    try:
        kobo = to_kobo(naira)
    except MoneyError as exc:
        raise Unrecordable(str(exc)) from None
    if not 0 <= kobo <= MAX_KOBO:
        raise Unrecordable(f"amount out of range for the ledger: {naira} (at most {MAX_KOBO} kobo)")
    return kobo
