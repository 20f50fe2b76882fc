"""BVN protection: AES-256-GCM at rest, a keyed hash for uniqueness, masking for display.

Both keys are derived from BVN_ENCRYPTION_KEY with HKDF-SHA256 under different labels, so the
hash key never doubles as the encryption key. Each value gets a fresh random nonce; the user id
is bound in as associated data, so a ciphertext copied onto another user's row fails to open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE_BYTES = 12
_BVN = re.compile(r"^[0-9]{11}$")


def is_bvn(value: str) -> bool:
    return bool(_BVN.fullmatch(value))


def mask(bvn: str) -> str:
    """'22222222222' -> '*******2222'."""
    return "*" * (len(bvn) - 4) + bvn[-4:]


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)


class BvnCipher:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("BVN_ENCRYPTION_KEY must be at least 16 characters")
        material = secret.encode()
        self._aead = AESGCM(_derive(material, b"betfuz/treasury/bvn/aes-256-gcm/v1"))
        self._hash_key = _derive(material, b"betfuz/treasury/bvn/hmac-sha256/v1")

    def encrypt(self, bvn: str, user_id: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, bvn.encode(), user_id.encode())

    def decrypt(self, blob: bytes, user_id: str) -> str:
        if blob[:1] != _VERSION:
            raise ValueError("unknown BVN ciphertext version")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        return self._aead.decrypt(nonce, sealed, user_id.encode()).decode()

    def fingerprint(self, bvn: str) -> bytes:
        """Keyed, so the 10^11 possible BVNs cannot be hashed offline to reverse a leaked row."""
        return hmac.new(self._hash_key, bvn.encode(), hashlib.sha256).digest()

    def masked(self, blob: bytes, user_id: str) -> str:
        return mask(self.decrypt(blob, user_id))
