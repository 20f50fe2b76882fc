"""Selcom API gateway request signing (the scheme Selcom publishes for its gateway).

Headers: `Authorization: SELCOM base64(api_key)`, `Digest-Method: HS256`, `Timestamp`,
`Signed-Fields` and `Digest = base64(HMAC-SHA256(secret, "timestamp=<ts>&k1=v1&..."))`, the
fields in Signed-Fields order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

DIGEST_METHOD = "HS256"


def field_text(value: object) -> str:
    """How a value appears in the signing string; it must equal what the JSON body carries."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def signing_string(timestamp: str, fields: Mapping[str, object], order: Sequence[str]) -> str:
    parts = [f"timestamp={timestamp}", *(f"{name}={field_text(fields[name])}" for name in order)]
    return "&".join(parts)


def digest(secret: bytes, message: str) -> str:
    mac = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def authorization(api_key: str) -> str:
    return "SELCOM " + base64.b64encode(api_key.encode()).decode()


def timestamp(now: datetime) -> str:
    """ISO-8601 with an explicit offset, to the second, as the gateway expects."""
    if now.tzinfo is None:
        raise ValueError("timestamp needs an aware datetime")
    return now.isoformat(timespec="seconds")


def signed_headers(
    *, api_key: str, secret: bytes, now: datetime, fields: Mapping[str, object]
) -> dict[str, str]:
    """Headers for a gateway call that signs every field in `fields`, in their order."""
    order = list(fields)
    stamp = timestamp(now)
    return {
        "Authorization": authorization(api_key),
        "Digest-Method": DIGEST_METHOD,
        "Timestamp": stamp,
        "Signed-Fields": ",".join(order),
        "Digest": digest(secret, signing_string(stamp, fields, order)),
    }
