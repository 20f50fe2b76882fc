import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from betfuz_common.auth import JwtVerifier
from betfuz_common.errors import Problem
from betfuz_common.jwks import JwksKeys

JWKS_URL = "https://id.example/.well-known/jwks.json"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private: Any, kid: str, algorithm: str) -> dict[str, Any]:
    algo = jwt.get_algorithm_by_name(algorithm)
    jwk: dict[str, Any] = json.loads(algo.to_jwk(private.public_key()))
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


def token(private: Any, kid: str, algorithm: str, sub: str = "user-7") -> str:
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + 60, "role": "compliance"}
    return jwt.encode(claims, private, algorithm=algorithm, headers={"kid": kid})


class FakeIdentityProvider:
    """Serves whatever key set the test puts up, and counts the fetches."""

    def __init__(self, *jwks: dict[str, Any]) -> None:
        self.keys = list(jwks)
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": self.keys})

    def verifier(self, min_refresh_seconds: float = 30) -> JwtVerifier:
        keys = JwksKeys(
            JWKS_URL,
            min_refresh_seconds=min_refresh_seconds,
            transport=httpx.MockTransport(self.handler),
        )
        return JwtVerifier("unused-hs256-secret", algorithms=("RS256", "ES256"), jwks=keys)


@pytest.mark.parametrize(
    ("algorithm", "make_key"),
    [("RS256", rsa_key), ("ES256", lambda: ec.generate_private_key(ec.SECP256R1()))],
)
async def test_a_token_signed_with_a_published_key_is_accepted(
    algorithm: str, make_key: Any
) -> None:
    private = make_key()
    idp = FakeIdentityProvider(public_jwk(private, "k1", algorithm))

    principal = await idp.verifier().verify(token(private, "k1", algorithm))

    assert principal.user_id == "user-7"
    assert principal.has_role("compliance")


async def test_the_key_set_is_fetched_once_for_many_tokens() -> None:
    private = rsa_key()
    idp = FakeIdentityProvider(public_jwk(private, "k1", "RS256"))
    verifier = idp.verifier()

    for _ in range(20):
        await verifier.verify(token(private, "k1", "RS256"))

    assert idp.fetches == 1


async def test_a_rotated_key_is_picked_up_by_fetching_the_set_again() -> None:
    old, new = rsa_key(), rsa_key()
    idp = FakeIdentityProvider(public_jwk(old, "old", "RS256"))
    verifier = idp.verifier(min_refresh_seconds=0)
    await verifier.verify(token(old, "old", "RS256"))

    idp.keys = [public_jwk(old, "old", "RS256"), public_jwk(new, "new", "RS256")]
    principal = await verifier.verify(token(new, "new", "RS256"))

    assert principal.user_id == "user-7"
    assert idp.fetches == 2


async def test_made_up_key_ids_cannot_make_us_fetch_on_every_request() -> None:
    private = rsa_key()
    idp = FakeIdentityProvider(public_jwk(private, "k1", "RS256"))
    verifier = idp.verifier(min_refresh_seconds=30)
    await verifier.verify(token(private, "k1", "RS256"))

    for n in range(10):
        with pytest.raises(Problem) as caught:
            await verifier.verify(token(private, f"invented-{n}", "RS256"))
        assert caught.value.status == 401

    assert idp.fetches == 1


async def test_a_token_signed_by_an_unpublished_key_under_a_known_id_is_unauthorized() -> None:
    published, forged = rsa_key(), rsa_key()
    idp = FakeIdentityProvider(public_jwk(published, "k1", "RS256"))

    with pytest.raises(Problem) as caught:
        await idp.verifier().verify(token(forged, "k1", "RS256"))

    assert caught.value.status == 401


async def test_an_identity_provider_outage_keeps_the_keys_already_known() -> None:
    private = rsa_key()
    idp = FakeIdentityProvider(public_jwk(private, "k1", "RS256"))
    keys = JwksKeys(
        JWKS_URL, ttl_seconds=0, min_refresh_seconds=0, transport=httpx.MockTransport(idp.handler)
    )
    verifier = JwtVerifier("unused", algorithms=("RS256", "ES256"), jwks=keys)
    await verifier.verify(token(private, "k1", "RS256"))

    idp.down = True
    principal = await verifier.verify(token(private, "k1", "RS256"))

    assert principal.user_id == "user-7"
    assert idp.fetches == 2
