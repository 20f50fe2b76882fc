import base64
import time

import jwt
import pytest

from betfuz_common.auth import JwtVerifier, issue_token, require_role
from betfuz_common.errors import Problem

SECRET = "unit-test-secret-0123456789abcdef0123"


async def _problem_status(verifier: JwtVerifier, token: str) -> int:
    with pytest.raises(Problem) as caught:
        await verifier.verify(token)
    return caught.value.status


async def test_a_valid_token_yields_its_subject_and_roles() -> None:
    token = issue_token(SECRET, "user-1", roles=["compliance"])
    principal = await JwtVerifier(SECRET).verify(token)
    assert principal.user_id == "user-1"
    assert principal.has_role("compliance")


async def test_an_expired_token_is_unauthorized() -> None:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "u", "iat": now - 7200, "exp": now - 3600}, SECRET, algorithm="HS256"
    )
    assert await _problem_status(JwtVerifier(SECRET), token) == 401


async def test_an_unsigned_alg_none_token_is_unauthorized() -> None:
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, "", algorithm="none")
    assert await _problem_status(JwtVerifier(SECRET), token) == 401


async def test_a_token_signed_with_another_key_is_unauthorized() -> None:
    token = issue_token("someone-elses-key-0123456789abcdef", "u")
    assert await _problem_status(JwtVerifier(SECRET), token) == 401


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30."])
async def test_a_malformed_token_is_unauthorized(token: str) -> None:
    assert await _problem_status(JwtVerifier(SECRET), token) == 401


async def test_a_token_without_subject_is_unauthorized() -> None:
    token = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert await _problem_status(JwtVerifier(SECRET), token) == 401


async def test_a_token_without_expiry_is_unauthorized() -> None:
    token = jwt.encode({"sub": "u"}, SECRET, algorithm="HS256")
    assert await _problem_status(JwtVerifier(SECRET), token) == 401


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
async def test_a_missing_or_non_bearer_header_is_unauthorized(header: str | None) -> None:
    with pytest.raises(Problem) as caught:
        await JwtVerifier(SECRET).from_header(header)
    assert caught.value.status == 401


async def test_an_asymmetric_token_without_a_jwks_url_is_unauthorized() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(b'{"sub":"u","exp":9999999999}').rstrip(b"=").decode()
    token = f"{header}.{body}.c2ln"
    assert await _problem_status(JwtVerifier(SECRET), token) == 401


async def test_require_role_refuses_a_user_without_the_role() -> None:
    principal = await JwtVerifier(SECRET).verify(issue_token(SECRET, "u"))
    with pytest.raises(Problem) as caught:
        require_role(principal, ["compliance", "admin"])
    assert caught.value.status == 403


async def test_roles_are_read_from_supabase_app_metadata() -> None:
    claims = {"sub": "u", "exp": int(time.time()) + 60, "app_metadata": {"roles": ["admin"]}}
    principal = await JwtVerifier(SECRET).verify(jwt.encode(claims, SECRET, algorithm="HS256"))
    assert principal.has_role("admin")
