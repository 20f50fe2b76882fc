"""Nigerian mobile numbers, normalised to E.164."""

from __future__ import annotations

import re

import phonenumbers

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
