"""How a bet is written on chain: its id as a SHA-256 hash, its win as integer kobo."""

import hashlib
from decimal import Decimal

KOBO_PER_NAIRA = 100
# The contract stores amounts as uint56 (see contracts/BetLedger.sol).
MAX_KOBO = 2**56 - 1
_MAX_NAIRA = Decimal(MAX_KOBO) / KOBO_PER_NAIRA  # exact: 720575940379279.35


def bet_hash(bet_id: str) -> bytes:
    """SHA-256 of the bet slip id's UTF-8 bytes (the spec's "bet hash"); 32 bytes."""
    return hashlib.sha256(bet_id.encode("utf-8")).digest()


def naira_to_kobo(naira: Decimal) -> int:
    """Exact conversion; raises ValueError for sub-kobo, negative, non-finite or too large."""
    if not isinstance(naira, Decimal):
        raise TypeError(f"naira must be a Decimal, not {type(naira).__name__}")
    if not naira.is_finite():
        raise ValueError(f"amount is not a finite number: {naira}")
    if naira < 0:
        raise ValueError(f"amount is negative: {naira}")
    if naira > _MAX_NAIRA:
        raise ValueError(f"amount is too large for the ledger: {naira}")
    # Integer arithmetic on the coefficient, not Decimal multiplication: the latter rounds to
    # the context precision (28 digits) and would accept 1.000…0001 as 100 kobo.
    _, digits, exponent = naira.as_tuple()
    coefficient = int("".join(map(str, digits)))
    shift = int(exponent) + 2  # kobo = coefficient * 10**shift
    if shift >= 0:
        return coefficient * _power_of_ten(shift)
    if coefficient and (-shift > len(digits) or coefficient % _power_of_ten(-shift)):
        raise ValueError(f"amount has a fraction of a kobo: {naira}")
    return coefficient // _power_of_ten(-shift)


def _power_of_ten(n: int) -> int:
    result: int = 10**n  # typeshed types int ** int as Any (a negative n gives a float)
    return result


def kobo_to_naira(kobo: int) -> Decimal:
    return Decimal(kobo) / KOBO_PER_NAIRA
