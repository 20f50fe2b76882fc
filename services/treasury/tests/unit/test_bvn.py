import pytest
from cryptography.exceptions import InvalidTag

from treasury.bvn import BvnCipher, is_bvn, mask

BVN = "22222222222"
KEY = "unit-test-bvn-key-0123456789"


def test_a_bvn_is_masked_to_its_last_four_digits() -> None:
    assert mask("12345678901") == "*******8901"


def test_an_encrypted_bvn_decrypts_to_itself_for_the_same_user() -> None:
    cipher = BvnCipher(KEY)
    blob = cipher.encrypt(BVN, "user-1")
    assert BVN.encode() not in blob
    assert cipher.decrypt(blob, "user-1") == BVN
    assert cipher.masked(blob, "user-1") == "*******2222"


def test_each_encryption_uses_a_fresh_nonce() -> None:
    cipher = BvnCipher(KEY)
    assert cipher.encrypt(BVN, "user-1") != cipher.encrypt(BVN, "user-1")


def test_a_ciphertext_moved_to_another_user_does_not_open() -> None:
    cipher = BvnCipher(KEY)
    with pytest.raises(InvalidTag):
        cipher.decrypt(cipher.encrypt(BVN, "user-1"), "user-2")


def test_a_tampered_ciphertext_does_not_open() -> None:
    cipher = BvnCipher(KEY)
    blob = bytearray(cipher.encrypt(BVN, "user-1"))
    blob[-1] ^= 1
    with pytest.raises(InvalidTag):
        cipher.decrypt(bytes(blob), "user-1")


def test_another_key_cannot_decrypt() -> None:
    blob = BvnCipher(KEY).encrypt(BVN, "user-1")
    with pytest.raises(InvalidTag):
        BvnCipher(KEY + "x").decrypt(blob, "user-1")


def test_the_fingerprint_is_stable_per_key_and_differs_between_keys() -> None:
    assert BvnCipher(KEY).fingerprint(BVN) == BvnCipher(KEY).fingerprint(BVN)
    assert BvnCipher(KEY).fingerprint(BVN) != BvnCipher(KEY + "x").fingerprint(BVN)
    assert BvnCipher(KEY).fingerprint(BVN) != BvnCipher(KEY).fingerprint("22222222223")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        BvnCipher("short")


@pytest.mark.parametrize(
    ("value", "ok"),
    [("22222222222", True), ("2222222222", False), ("222222222222", False), ("2222222222a", False)],
)
def test_a_bvn_is_exactly_eleven_ascii_digits(value: str, ok: bool) -> None:
    assert is_bvn(value) is ok
