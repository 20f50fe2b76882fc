import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from topup import signing

# Selcom's published example.
SECRET = b"81dc9bdb52d04dc20036dbd8313ed055"
STRING = (
    "timestamp=2019-02-26T09:30:46+03:00&transid=1218d5Qb&utilitycode=TOP&utilityref=0744963858"
    "&amount=8000&vendor=VENDORTILL&pin=0000&msisdn=255744963858"
)
FIELDS = {
    "transid": "1218d5Qb",
    "utilitycode": "TOP",
    "utilityref": "0744963858",
    "amount": 8000,
    "vendor": "VENDORTILL",
    "pin": "0000",
    "msisdn": "255744963858",
}
EAT = timezone(timedelta(hours=3))


def test_the_digest_matches_selcoms_published_vector() -> None:
    assert signing.digest(SECRET, STRING) == "PhcEUZIxPG4ZyEgnLpKxcIYEtHSrpUWaoK/2pgTb0AQ="


def test_the_signing_string_puts_the_timestamp_first_then_fields_in_signed_order() -> None:
    assert signing.signing_string("2019-02-26T09:30:46+03:00", FIELDS, list(FIELDS)) == STRING


def test_signed_headers_carry_the_gateway_scheme_and_the_published_digest() -> None:
    now = datetime(2019, 2, 26, 9, 30, 46, tzinfo=EAT)
    headers = signing.signed_headers(api_key="my-key", secret=SECRET, now=now, fields=FIELDS)
    assert headers == {
        "Authorization": "SELCOM " + base64.b64encode(b"my-key").decode(),
        "Digest-Method": "HS256",
        "Timestamp": "2019-02-26T09:30:46+03:00",
        "Signed-Fields": "transid,utilitycode,utilityref,amount,vendor,pin,msisdn",
        "Digest": "PhcEUZIxPG4ZyEgnLpKxcIYEtHSrpUWaoK/2pgTb0AQ=",
    }


def test_a_naive_timestamp_is_refused_because_the_gateway_needs_an_offset() -> None:
    with pytest.raises(ValueError, match="aware"):
        signing.timestamp(datetime(2024, 1, 1))


def test_utc_timestamps_carry_an_explicit_offset() -> None:
    assert signing.timestamp(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00+00:00"
