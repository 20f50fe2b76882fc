import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandboxes.wema.accounts import wema_nuban
from treasury.nuban import check_digit, is_valid_nuban


def test_the_cbn_published_example_has_check_digit_nine() -> None:
    # CBN NUBAN standard's worked example: bank code 011, serial 000001457 -> 0000014579.
    assert check_digit("011", "000001457") == 9
    assert is_valid_nuban("0000014579", "011")


def test_a_hand_computed_wema_number_is_valid() -> None:
    # 0*3+3*7+5*3 + 1*3+2*7+3*3 + 4*3+5*7+6*3 + 7*3+8*7+9*3 = 231 -> (10 - 1) % 10 = 9
    assert check_digit("035", "123456789") == 9
    assert is_valid_nuban("1234567899")


def test_a_sum_ending_in_zero_gives_check_digit_zero() -> None:
    # 0+21+15 + 0*7... + 1*3 at the last place: 39 -> 1; serial 000000008 -> 36+24=60 -> 0
    assert check_digit("035", "000000008") == 0
    assert is_valid_nuban("0000000080")


def test_the_six_digit_bank_code_gives_the_same_digit_as_the_three_digit_one() -> None:
    assert check_digit("000035", "123456789") == check_digit("035", "123456789")


@pytest.mark.parametrize(
    "number",
    [
        "1234567890",  # wrong check digit
        "1234567898",  # wrong check digit
        "123456789",  # nine digits
        "12345678999",  # eleven digits
        "12345678a9",  # a letter
        "١٢٣٤٥٦٧٨٩٩",  # Arabic-Indic digits are digits to Python, not to a bank
        "",
    ],
)
def test_numbers_that_fail_the_nuban_check_are_refused(number: str) -> None:
    assert not is_valid_nuban(number)


def test_a_valid_wema_number_is_not_valid_for_another_bank() -> None:
    assert not is_valid_nuban("1234567899", "011")


@given(st.integers(min_value=0, max_value=10**9 - 1), st.integers(min_value=1, max_value=9))
def test_exactly_one_check_digit_fits_each_serial(serial: int, shift: int) -> None:
    number = wema_nuban(serial)
    assert is_valid_nuban(number)
    wrong = number[:9] + str((int(number[9]) + shift) % 10)
    assert not is_valid_nuban(wrong)
