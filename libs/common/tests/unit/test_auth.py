import base64
import time

import jwt
import pytest
from starlette.requests import Request

from betfuz_common.auth import SMOKE_AUDIENCE, JwtVerifier, Principal, issue_token, requires
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


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer", "Bearer   "])
async def test_a_non_bearer_header_is_unauthorized(header: str) -> None:
    with pytest.raises(Problem) as caught:
        await JwtVerifier(SECRET).from_header(header)
    assert caught.value.status == 401


async def test_an_asymmetric_token_without_a_jwks_url_is_unauthorized() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(b'{"sub":"u","exp":9999999999}').rstrip(b"=").decode()
    token = f"{header}.{body}.c2ln"
    assert await _problem_status(JwtVerifier(SECRET), token) == 401


def request_by(principal: Principal | None, method: str = "GET") -> Request:
    scope = {"type": "http", "method": method, "path": "/", "headers": []}
    return Request({**scope, "user": principal} if principal else scope)


async def test_requires_refuses_a_user_without_the_role_and_a_caller_without_a_token() -> None:
    principal = await JwtVerifier(SECRET).verify(issue_token(SECRET, "u"))
    with pytest.raises(Problem) as forbidden:
        requires("compliance", "admin").check(request_by(principal))
    with pytest.raises(Problem) as anonymous:
        requires().check(request_by(None))
    assert (forbidden.value.status, anonymous.value.status) == (403, 401)
    assert requires().check(request_by(principal)) == principal


async def test_roles_are_read_from_supabase_app_metadata() -> None:
    now = int(time.time())
    claims = {"sub": "u", "iat": now, "exp": now + 60, "app_metadata": {"roles": ["admin"]}}
    principal = await JwtVerifier(SECRET).verify(jwt.encode(claims, SECRET, algorithm="HS256"))
    assert principal.has_role("admin")


async def test_a_token_living_longer_than_the_maximum_is_unauthorized() -> None:
    ten_years = issue_token(SECRET, "u", ttl_seconds=10 * 365 * 24 * 3600)
    assert await _problem_status(JwtVerifier(SECRET), ten_years) == 401
    assert (await JwtVerifier(SECRET).verify(issue_token(SECRET, "u"))).user_id == "u"


async def test_audience_and_issuer_are_checked_when_configured() -> None:
    verifier = JwtVerifier(SECRET, audience="authenticated", issuer="https://auth.example")
    good = issue_token(SECRET, "u", audience="authenticated", issuer="https://auth.example")
    other_audience = issue_token(SECRET, "u", audience="anon", issuer="https://auth.example")
    other_issuer = issue_token(SECRET, "u", audience="authenticated", issuer="https://evil")
    assert (await verifier.verify(good)).user_id == "u"
    assert await _problem_status(verifier, other_audience) == 401
    assert await _problem_status(verifier, other_issuer) == 401
    assert await _problem_status(verifier, issue_token(SECRET, "u")) == 401


async def test_hs256_is_refused_when_the_verifier_accepts_only_asymmetric_keys() -> None:
    class NoKeys:
        async def key(self, _: str | None) -> None:
            return None

    verifier = JwtVerifier(SECRET, algorithms=("RS256",), jwks=NoKeys())  # type: ignore[arg-type]
    assert await _problem_status(verifier, issue_token(SECRET, "u")) == 401


async def test_a_subject_with_a_control_character_is_unauthorized() -> None:
    assert await _problem_status(JwtVerifier(SECRET), issue_token(SECRET, "u\x00x")) == 401


SMOKE_SECRET = "smoke-secret-0123456789abcdef0123456789"


def smoke_token(subject: str = "smoke-deploy", ttl: int = 600) -> str:
    return issue_token(SMOKE_SECRET, subject, audience=SMOKE_AUDIENCE, ttl_seconds=ttl)


async def test_a_smoke_token_reads_as_its_own_read_only_identity() -> None:
    verifier = JwtVerifier(SECRET, smoke_secret=SMOKE_SECRET)
    principal = await verifier.verify(smoke_token())
    assert (principal.user_id, principal.smoke) == ("smoke-deploy", True)
    assert requires().check(request_by(principal, "GET")) == principal
    with pytest.raises(Problem) as caught:
        requires().check(request_by(principal, "POST"))
    assert caught.value.status == 403


async def test_a_smoke_token_cannot_name_a_real_user_or_live_long_or_use_the_platform_key() -> None:
    verifier = JwtVerifier(SECRET, smoke_secret=SMOKE_SECRET)
    assert await _problem_status(verifier, smoke_token(subject="user-1")) == 401
    assert await _problem_status(verifier, smoke_token(ttl=3600)) == 401
    platform_signed = issue_token(SECRET, "smoke-x", audience=SMOKE_AUDIENCE)
    assert await _problem_status(verifier, platform_signed) == 401
    without_smoke_key = JwtVerifier(SECRET)
    assert await _problem_status(without_smoke_key, smoke_token()) == 401
