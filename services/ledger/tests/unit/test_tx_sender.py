import pytest

from ledger.tx_sender import GWEI, Fees, TxSender, default_min_priority_fee, load_account


@pytest.mark.parametrize("chain_id", [137, 80002])
def test_polygon_chains_tip_at_least_25_gwei(chain_id: int) -> None:
    assert default_min_priority_fee(chain_id) == 25 * GWEI


def test_local_chains_have_no_tip_floor() -> None:
    assert default_min_priority_fee(31337) == 0


@pytest.mark.parametrize(
    "fees",
    [Fees(100, 10), Fees(7, 1), Fees(60 * GWEI + 1, 25 * GWEI), Fees(0, 0)],
)
def test_a_bump_raises_both_fees_by_at_least_an_eighth(fees: Fees) -> None:
    bumped = fees.bumped()
    assert bumped.max_fee_per_gas * 8 >= fees.max_fee_per_gas * 9
    assert bumped.max_priority_fee_per_gas * 8 >= fees.max_priority_fee_per_gas * 9
    assert bumped.max_fee_per_gas - fees.max_fee_per_gas <= fees.max_fee_per_gas // 8 + 1


def test_at_least_takes_the_higher_of_each_fee() -> None:
    assert Fees(10, 1).at_least(Fees(5, 3)) == Fees(10, 3)


def test_a_malformed_private_key_is_never_echoed_in_the_error() -> None:
    key = "0x" + "ab" * 31 + "zz"
    with pytest.raises(ValueError, match="not a valid") as caught:
        load_account(key)
    assert "ab" * 8 not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_the_sender_repr_shows_the_address_not_the_key() -> None:
    key = "0x" + "11" * 32
    account = load_account(key)
    sender = TxSender(None, account, chain_id=1, min_priority_fee_wei=0)  # type: ignore[arg-type]
    assert "11" * 8 not in repr(sender)
    assert account.address in repr(sender)
