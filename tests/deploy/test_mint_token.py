"""Smoke tokens are HS256 JWTs of the smoke identity: its own key and audience, a smoke- subject,
at most 15 minutes to live. They can never pass for a user's token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "smoke" / "mint_token.py"
KEY = "k" * 40


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mint_token", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mint_token = load_script()


def decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_a_smoke_token_is_signed_with_the_smoke_key_for_the_smoke_audience() -> None:
    token: str = mint_token.mint(KEY, "smoke-42", "compliance", now=1000, ttl_seconds=900)
    header, claims, signature = token.split(".")
    expected = hmac.new(KEY.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(decode(signature), expected)
    assert json.loads(decode(header)) == {"alg": "HS256", "typ": "JWT"}
    body: dict[str, Any] = json.loads(decode(claims))
    assert body == {
        "sub": "smoke-42",
        "aud": "betfuz-smoke",
        "role": "compliance",
        "iat": 1000,
        "exp": 1900,
    }


def test_a_standard_jwt_library_verifies_it_for_the_smoke_audience_only() -> None:
    token: str = mint_token.mint(KEY, "smoke-run-7", None, now=int(time.time()), ttl_seconds=60)
    claims = jwt.decode(token, KEY, algorithms=["HS256"], audience="betfuz-smoke")
    assert "role" not in claims
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, KEY, algorithms=["HS256"], audience="authenticated")


@pytest.mark.parametrize(
    ("secret", "subject", "ttl", "problem"),
    [
        ("short-key", "smoke-1", 60, "at least 32 bytes"),
        (KEY, "user-1", 60, "must start with"),
        (KEY, "smoke-", 60, "must start with"),
        (KEY, "smoke-1", 901, "at most 900 seconds"),
        (KEY, "smoke-1", 0, "at most 900 seconds"),
    ],
)
def test_weak_keys_user_subjects_and_long_lives_are_refused(
    secret: str, subject: str, ttl: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        mint_token.mint(secret, subject, None, now=1000, ttl_seconds=ttl)


def test_the_command_reads_only_the_smoke_key_and_exits_2_without_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The platform's key in the environment is never a fallback.
    monkeypatch.setenv("JWT_SECRET", KEY)
    monkeypatch.delenv("SMOKE_JWT_SECRET", raising=False)
    assert mint_token.main(["smoke-1"]) == 2
    assert "SMOKE_JWT_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("SMOKE_JWT_SECRET", KEY)
    assert mint_token.main(["smoke-1", "--role", "compliance"]) == 0
    token = capsys.readouterr().out.strip()
    assert jwt.decode(token, KEY, algorithms=["HS256"], audience="betfuz-smoke")["sub"] == "smoke-1"
