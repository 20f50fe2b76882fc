"""JWT bearer authentication: one Starlette AuthenticationBackend around one verifier.

Platform tokens come from the identity provider (Supabase: HS256 with JWT_SECRET, or RS256/ES256
through a JWKS): `sub` is the user id, roles come from `role`, `roles` or `app_metadata`. The
accepted algorithms are explicit, audience and issuer are checked when configured (production
requires both), and a token may not live longer than JWT_MAX_LIFETIME_SECONDS.

The deploy job's smoke tests get a token of their own (SMOKE_JWT_SECRET, audience
`betfuz-smoke`): it is read-only (GET/HEAD) and its subject must start with `smoke-`, so it can
never act for, or read as, a real user.

Routes say who may call them with `requires(...)`, checked by the route layer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection, Request

from betfuz_common.errors import FORBIDDEN, UNAUTHORIZED, Problem
from betfuz_common.jwks import JwksKeys
from betfuz_common.settings import CommonSettings
from betfuz_common.text import forbidden_character

ROLE_CLAIMS = ("role", "roles", "app_metadata")
ASYMMETRIC = frozenset({"RS256", "ES256"})
SMOKE_AUDIENCE = "betfuz-smoke"
SMOKE_SUBJECT = re.compile(r"smoke-[A-Za-z0-9-]{1,64}")
SMOKE_MAX_LIFETIME_SECONDS = 15 * 60
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
MAX_SUBJECT = 128


@dataclass(frozen=True)
class Principal(BaseUser):
    """Who a verified token is for."""

    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    smoke: bool = False  # the deploy job's read-only smoke identity

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.user_id

    @property
    def identity(self) -> str:
        return self.user_id

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
        algorithms: Sequence[str] = ("HS256",),
        jwks_url: str | None = None,
        jwks: JwksKeys | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        max_lifetime_seconds: int = 24 * 3600,
        smoke_secret: bytes | str | None = None,
        leeway_seconds: int = 30,
    ) -> None:
        unknown = set(algorithms) - ASYMMETRIC - {"HS256"}
        if unknown:
            raise ValueError(f"unsupported JWT algorithms: {sorted(unknown)}")
        self._secret = secret
        self._algorithms = frozenset(algorithms)
        self._jwks = jwks or (JwksKeys(jwks_url) if jwks_url else None)
        if self._algorithms & ASYMMETRIC and self._jwks is None:
            raise ValueError("RS256/ES256 need a JWKS_URL")
        self._audience = audience
        self._issuer = issuer
        self._max_lifetime = max_lifetime_seconds
        self._smoke_secret = smoke_secret
        self._leeway = leeway_seconds

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise UNAUTHORIZED("token is invalid") from None
        algorithm = header.get("alg")
        if self._smoke_secret is not None and unverified.get("aud") == SMOKE_AUDIENCE:
            return self._smoke(token, algorithm)
        if algorithm not in self._algorithms:
            # alg=none and anything not configured never reach decode.
            raise UNAUTHORIZED("token algorithm is not accepted")
        key: Any = self._secret
        if algorithm in ASYMMETRIC:
            assert self._jwks is not None
            key = await self._jwks.key(header.get("kid"))
            if key is None:
                raise UNAUTHORIZED("token is signed with an unknown key")
        claims = self._decode(token, key, algorithm, self._audience, self._max_lifetime)
        return Principal(user_id=_subject(claims), roles=_roles_from(claims))

    def _smoke(self, token: str, algorithm: object) -> Principal:
        if algorithm != "HS256":
            raise UNAUTHORIZED("token algorithm is not accepted")
        assert self._smoke_secret is not None
        claims = self._decode(
            token, self._smoke_secret, "HS256", SMOKE_AUDIENCE, SMOKE_MAX_LIFETIME_SECONDS
        )
        subject = _subject(claims)
        if not SMOKE_SUBJECT.fullmatch(subject):
            raise UNAUTHORIZED("a smoke token's subject must start with 'smoke-'")
        return Principal(user_id=subject, roles=_roles_from(claims), smoke=True)

    def _decode(
        self, token: str, key: Any, algorithm: str, audience: str | None, max_lifetime: int
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=self._issuer if audience != SMOKE_AUDIENCE else None,
                leeway=self._leeway,
                options={
                    "require": ["sub", "exp", "iat"],
                    "verify_aud": audience is not None,
                    "verify_iss": self._issuer is not None and audience != SMOKE_AUDIENCE,
                },
            )
        except jwt.ExpiredSignatureError:
            raise UNAUTHORIZED("token has expired") from None
        except jwt.PyJWTError:
            raise UNAUTHORIZED("token is invalid") from None
        issued, expires = claims["iat"], claims["exp"]
        if not all(isinstance(v, int | float) for v in (issued, expires)):
            raise UNAUTHORIZED("token times are not numbers")
        now = time.time()
        if issued > now + self._leeway or expires - issued > max_lifetime:
            raise UNAUTHORIZED("token lives longer than this service accepts")
        return claims

    async def from_header(self, authorization: str) -> Principal:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UNAUTHORIZED("expected 'Authorization: Bearer <token>'")
        return await self.verify(token.strip())


def _subject(claims: dict[str, Any]) -> str:
    subject = claims.get("sub")
    if (
        not isinstance(subject, str)
        or not 1 <= len(subject) <= MAX_SUBJECT
        or forbidden_character(subject) is not None
    ):
        raise UNAUTHORIZED("token has no usable subject")
    return subject


class TokenRefused(AuthenticationError):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail or problem.title)
        self.problem = problem


class JwtBackend(AuthenticationBackend):
    """A Bearer token is verified (a bad one is a 401); a request with no Authorization header,
    or with another scheme, is anonymous and the route decides: a provider's signed callback
    that happens to carry its own `Authorization: Basic …` must still reach its signature check."""

    def __init__(self, verifier: JwtVerifier) -> None:
        self.verifier = verifier

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None or header.partition(" ")[0].lower() != "bearer":
            return None
        try:
            principal = await self.verifier.from_header(header)
        except Problem as problem:
            raise TokenRefused(problem) from None
        return AuthCredentials(["authenticated", *sorted(principal.roles)]), principal


@dataclass(frozen=True)
class Access:
    """Who may call a route: any verified caller (no roles), or one holding any of `roles`."""

    roles: tuple[str, ...] = ()

    def check(self, request: Request) -> Principal:
        user = request.user if "user" in request.scope else None
        if not isinstance(user, Principal):
            raise UNAUTHORIZED("missing bearer token")
        if user.smoke and request.method not in READ_ONLY_METHODS:
            raise FORBIDDEN("a smoke token is read-only")
        if self.roles and not user.has_role(*self.roles):
            raise FORBIDDEN(f"requires one of the roles: {', '.join(self.roles)}")
        return user


def requires(*roles: str) -> Access:
    """`requires()`: any verified caller; `requires("ops")`: a caller with the ops role."""
    return Access(tuple(roles))


def issue_token(
    secret: bytes | str,
    user_id: str,
    *,
    roles: Iterable[str] = (),
    ttl_seconds: int = 3600,
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """HS256 token for dev and tests; production tokens come from the identity provider."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds}
    if audience is not None:
        claims["aud"] = audience
    if issuer is not None:
        claims["iss"] = issuer
    role_list = list(roles)
    if role_list:
        claims["role"] = role_list[0]
        claims["roles"] = role_list
    return jwt.encode(claims, secret, algorithm="HS256")


def verifier_from_settings(settings: CommonSettings) -> JwtVerifier:
    """The verifier a service's CommonSettings describe."""
    smoke = settings.smoke_jwt_secret
    return JwtVerifier(
        settings.jwt_secret.get_secret_value(),
        algorithms=settings.algorithms(),
        jwks_url=settings.jwks_url,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
        smoke_secret=smoke.get_secret_value() if smoke is not None else None,
    )
