import pytest

from betfuz_common.phones import PhoneError, normalise_ng_mobile


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+2348012345678", "+2348012345678"),
        ("08012345678", "+2348012345678"),
        (" 07031234567 ", "+2347031234567"),
        ("09012345678", "+2349012345678"),
    ],
)
def test_nigerian_mobile_numbers_normalise_to_e164(raw: str, expected: str) -> None:
    assert normalise_ng_mobile(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "8012345678", "+14155552671", "+23480123", "0801234567899", "phone", "+2341234567"]
)
def test_other_numbers_are_refused(raw: str) -> None:
    with pytest.raises(PhoneError):
        normalise_ng_mobile(raw)
