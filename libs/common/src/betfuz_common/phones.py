"""Nigerian mobile numbers, normalised to E.164."""

from __future__ import annotations

import re
from typing import Annotated

import phonenumbers
from pydantic import BeforeValidator, WithJsonSchema

# Exactly the two written forms the services document. phonenumbers alone is lenient: it drops
# trailing junk ("08012345678*") and punctuation, so a number the OpenAPI documents refuse
# would be accepted (found by the schemathesis contract test in tests/safety).
_SHAPE = re.compile(r"(?:\+234|0)[0-9]{10}")


class PhoneError(ValueError):
    pass


def normalise_ng_mobile(raw: str) -> str:
    """'+2348012345678' or '08012345678' -> '+2348012345678'; anything else is refused."""
    candidate = raw.strip()  # surrounding whitespace is forgiven, as it always was
    if not _SHAPE.fullmatch(candidate):
        raise PhoneError("must be a Nigerian number in +234… or 0… form, digits only")
    try:
        parsed = phonenumbers.parse(candidate, "NG")
    except phonenumbers.NumberParseException:
        raise PhoneError("is not a phone number") from None
    if parsed.country_code != 234 or not phonenumbers.is_valid_number(parsed):
        raise PhoneError("is not a valid Nigerian number")
    kind = phonenumbers.number_type(parsed)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise PhoneError("is not a Nigerian mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# The ranges libphonenumber accepts as Nigerian mobiles in full; the OpenAPI documents publish
# this one pattern (the server's libphonenumber check stays authoritative: a few numbers in
# 0702/0819 are valid too).
MOBILE_PATTERN = r"^(\+234|0)(70[13-9]|7[12][0-9]|80[1-9]|81[0-8]|90[1-9]|91[0-6])[0-9]{7}$"


def _mobile(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        return normalise_ng_mobile(value)
    except PhoneError as exc:
        raise ValueError(str(exc)) from None


# A request field holding a Nigerian mobile number; validated and normalised to E.164.
NigerianMobile = Annotated[
    str,
    BeforeValidator(_mobile),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MOBILE_PATTERN,
            "description": "Nigerian mobile number, +234… or 0…; stored as E.164",
            "examples": ["+2348012345678", "08012345678"],
        }
    ),
]
