"""JWT bearer authentication: HS256 with JWT_SECRET (Supabase-style), or RS256/ES256 via JWKS."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt

from betfuz_common.errors import Problem, forbidden, unauthorized
from betfuz_common.jwks import JwksKeys

ROLE_CLAIMS = ("role", "roles", "app_metadata")
_ASYMMETRIC = ["RS256", "ES256"]


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def _roles_from(claims: dict[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    for name in ROLE_CLAIMS:
        value = claims.get(name)
        if name == "app_metadata" and isinstance(value, dict):
            value = value.get("roles", value.get("role"))
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


class JwtVerifier:
    """Verifies a token and returns who it is for; anything doubtful is a 401 Problem."""

    def __init__(
        self,
        secret: bytes | str,
        *,
        jwks_url: str | None = None,
        jwks: JwksKeys | None = None,
        audience: str | None = None,
        leeway_seconds: int = 30,
    ) -> None:
        self._secret = secret
        self._audience = audience
        self._leeway = leeway_seconds
        self._jwks = jwks or (JwksKeys(jwks_url) if jwks_url else None)

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("token is invalid") from None
        algorithm = header.get("alg")
        if algorithm == "HS256":
            key: Any = self._secret
        elif algorithm in _ASYMMETRIC and self._jwks is not None:
            key = await self._jwks.key(header.get("kid"))
            if key is None:
                raise unauthorized("token is signed with an unknown key")
        else:
            # alg=none and anything unexpected never reach decode.
            raise unauthorized("token algorithm is not accepted")
        return self._decode(token, key, algorithm)

    def _decode(self, token: str, key: Any, algorithm: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["sub", "exp"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("token has expired") from None
        except jwt.PyJWTError:
            raise unauthorized("token is invalid") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise unauthorized("token has no usable subject")
        return Principal(user_id=subject, roles=_roles_from(claims))

    async def from_header(self, authorization: str | None) -> Principal:
        if not authorization:
            raise unauthorized("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("expected 'Authorization: Bearer <token>'")
        return await self.verify(token.strip())


def require_role(principal: Principal, roles: Iterable[str]) -> Principal:
    wanted = tuple(roles)
    if not principal.has_role(*wanted):
        raise forbidden(f"requires one of the roles: {', '.join(wanted)}")
    return principal


def issue_token(
    secret: bytes | str, user_id: str, *, roles: Iterable[str] = (), ttl_seconds: int = 3600
) -> str:
    """HS256 token for dev and tests; production tokens come from the identity provider."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds}
    role_list = list(roles)
    if role_list:
        claims["role"] = role_list[0]
        claims["roles"] = role_list
    return jwt.encode(claims, secret, algorithm="HS256")


__all__ = ["JwtVerifier", "Principal", "Problem", "issue_token", "require_role"]
