import base64

import pytest

from betfuz_common.signatures import sign, verify

# RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?"
RFC4231_KEY = b"Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_SHA256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
RFC4231_SHA512 = (
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fd"
    "caeab1a34d4a6b4b636e070a38bce737"
)


def test_sign_matches_the_rfc_4231_vectors() -> None:
    assert sign(RFC4231_DATA, RFC4231_KEY, "sha256") == RFC4231_SHA256
    assert sign(RFC4231_DATA, RFC4231_KEY, "sha512") == RFC4231_SHA512


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_verify_accepts_hex_and_base64_of_the_same_mac(algorithm: str) -> None:
    hex_sig = sign(RFC4231_DATA, RFC4231_KEY, algorithm)  # type: ignore[arg-type]
    b64_sig = base64.b64encode(bytes.fromhex(hex_sig)).decode()
    assert verify(RFC4231_DATA, hex_sig, [RFC4231_KEY], algorithm)  # type: ignore[arg-type]
    assert verify(RFC4231_DATA, hex_sig.upper(), [RFC4231_KEY], algorithm)  # type: ignore[arg-type]
    assert verify(RFC4231_DATA, b64_sig, [RFC4231_KEY], algorithm)  # type: ignore[arg-type]


def test_verify_accepts_any_active_secret_during_a_rotation() -> None:
    body = b'{"order_id":"TOP1"}'
    signed_with_new = sign(body, b"new-secret", "sha256")
    signed_with_old = sign(body, b"old-secret", "sha256")
    active = [b"old-secret", b"new-secret"]
    assert verify(body, signed_with_new, active, "sha256")
    assert verify(body, signed_with_old, active, "sha256")
    assert not verify(body, sign(body, b"retired", "sha256"), active, "sha256")


def test_verify_rejects_a_changed_body() -> None:
    signature = sign(b'{"amount":100}', b"k", "sha512")
    assert not verify(b'{"amount":1000}', signature, [b"k"], "sha512")


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "   ",
        RFC4231_SHA256[:-2],  # one byte short
        RFC4231_SHA256 + "00",  # one byte long
        "zz" * 32,  # right length, not hex
        base64.b64encode(b"x" * 31).decode(),  # base64 of the wrong length
        RFC4231_SHA512,  # a sha512 MAC offered where sha256 is expected
    ],
)
def test_verify_rejects_missing_empty_and_wrong_length_signatures(signature: str | None) -> None:
    assert not verify(RFC4231_DATA, signature, [RFC4231_KEY], "sha256")


def test_verify_never_matches_with_no_secret_or_an_empty_one() -> None:
    empty_key_mac = sign(RFC4231_DATA, b"", "sha256")
    assert not verify(RFC4231_DATA, empty_key_mac, [], "sha256")
    assert not verify(RFC4231_DATA, empty_key_mac, [b""], "sha256")


def test_verify_accepts_the_algorithm_prefixed_form() -> None:
    assert verify(RFC4231_DATA, "sha256=" + RFC4231_SHA256, [RFC4231_KEY], "sha256")
