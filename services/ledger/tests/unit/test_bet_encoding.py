from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betfuz_common.money import from_kobo
from ledger.bet_encoding import MAX_KOBO, Unrecordable, bet_hash, chain_amount


def test_bet_hash_is_the_sha256_of_the_bet_id() -> None:
    # computed independently: printf bet_abc123 | sha256sum. (The spec's example hash
    # 7f83b165… is sha256("Hello World!"), not of its bet id, so it cannot serve as a vector.)
    expected = "2fd3075eb039820be25915006d371c7dd9bd1a8027ab8af6d7257d521141c0cc"
    assert len(bet_hash("bet_abc123")) == 32
    assert bet_hash("bet_abc123").hex() == expected


def test_bet_hash_hashes_utf8_bytes_of_non_ascii_ids() -> None:
    assert bet_hash("bet_₦1").hex() == (
        "b0f70a1944c964fcb6a3fb2604b15b3a5c27ed2c4aca90c7e4bf2adbd61de6fd"
    )


@pytest.mark.parametrize(
    ("naira", "kobo"),
    [
        ("0", 0),
        ("0.01", 1),
        ("1000000", 100_000_000),
        ("5000000.50", 500_000_050),
        ("1.10000000000000000000000000000000", 110),  # trailing zeros beyond 28 digits
        ("1E+6", 100_000_000),
        ("720575940379279.35", MAX_KOBO),
    ],
)
def test_naira_converts_to_exact_kobo(naira: str, kobo: int) -> None:
    assert chain_amount(Decimal(naira)) == kobo


@pytest.mark.parametrize(
    ("naira", "reason"),
    [
        ("0.001", "fraction of a kobo"),
        ("1.0000000000000000000000000000001", "fraction of a kobo"),  # 1 unit past 28 digits
        ("1E-1000000", "fraction of a kobo"),
        ("-0.01", "out of range"),
        ("720575940379279.36", "out of range"),
        ("NaN", "not a finite"),
        ("Infinity", "not a finite"),
    ],
)
def test_a_win_the_ledger_cannot_hold_exactly_is_unrecordable(naira: str, reason: str) -> None:
    with pytest.raises(Unrecordable, match=reason):
        chain_amount(Decimal(naira))


def test_the_converter_refuses_floats() -> None:
    with pytest.raises(TypeError):
        chain_amount(0.1)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=MAX_KOBO))
def test_kobo_round_trips_through_naira(kobo: int) -> None:
    assert chain_amount(from_kobo(kobo)) == kobo
