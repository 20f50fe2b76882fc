"""The deploy job's smoke tokens are valid HS256 JWTs with the claims the services read."""

import base64
import hashlib
import hmac
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "smoke" / "mint_token.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mint_token", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_a_minted_token_is_signed_with_the_secret_and_expires() -> None:
    token: str = load_script().mint("s3cret", "smoke-42", "compliance", now=1000, ttl_seconds=900)
    header, claims, signature = token.split(".")
    expected = hmac.new(b"s3cret", f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(decode(signature), expected)
    assert json.loads(decode(header)) == {"alg": "HS256", "typ": "JWT"}
    body: dict[str, Any] = json.loads(decode(claims))
    assert body == {
        "sub": "smoke-42",
        "role": "compliance",
        "aud": "authenticated",
        "iat": 1000,
        "exp": 1900,
    }
