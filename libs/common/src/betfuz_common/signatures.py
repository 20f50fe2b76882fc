"""HMAC over the exact raw body bytes, constant-time, several secrets at once for rotation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal

Algorithm = Literal["sha256", "sha512"]
Encoding = Literal["hex", "base64"]

_DIGEST_SIZE = {"sha256": 32, "sha512": 64}


def sign(body: bytes, secret: bytes, algorithm: Algorithm, encoding: Encoding = "hex") -> str:
    mac = hmac.new(secret, body, getattr(hashlib, algorithm)).digest()
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()


def _decode(signature: str, algorithm: Algorithm) -> bytes | None:
    """Hex or base64, told apart by length; a signature of the wrong length never matches."""
    size = _DIGEST_SIZE[algorithm]
    text = signature.strip()
    if text.lower().startswith(f"{algorithm}="):
        text = text[len(algorithm) + 1 :]
    try:
        if len(text) == size * 2:
            return bytes.fromhex(text)
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == size else None


def verify(
    body: bytes, signature: str | None, secrets: Iterable[bytes], algorithm: Algorithm
) -> bool:
    """True when `signature` is the HMAC of `body` under any active secret."""
    if not signature:
        return False
    given = _decode(signature, algorithm)
    if given is None:
        return False
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret, body, getattr(hashlib, algorithm)).digest()
        # No early exit: the time taken does not say which secret matched.
        matched |= hmac.compare_digest(expected, given)
    return matched
