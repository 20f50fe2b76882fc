"""Nigerian mobile numbers, normalised to E.164."""

from __future__ import annotations

import phonenumbers


class PhoneError(ValueError):
    pass


def normalise_ng_mobile(raw: str) -> str:
    """'+2348012345678' or '08012345678' -> '+2348012345678'; anything else is refused."""
    candidate = raw.strip()
    if not (candidate.startswith("+234") or candidate.startswith("0")):
        raise PhoneError("must be a Nigerian number in +234… or 0… form")
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
