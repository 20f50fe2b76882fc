"""Settings from environment variables only, with dev defaults that production refuses.

In production (`APP_ENV=prod`) start-up stops, naming the variable, when a variable is missing,
holds a dev default, looks like a placeholder someone forgot to replace (`seed-me`,
`your_api_key`, ...), or is too short to be a key: a forgotten seed value would let anyone mint
tokens or forge deposits. Each secret says what kind it is, which decides how long it must be.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

AppEnv = Literal["dev", "test", "prod"]

# Every dev default carries this marker so a human reading a config dump sees what it is.
DEV_MARK = "dev-only-"


class SecretKind(enum.Enum):
    GENERATED = 32  # a key we make ourselves (openssl rand): at least 32 bytes
    ISSUED = 16  # a credential a provider issued to us: at least 16 characters
    PIN = 4  # a PIN is short by nature: only placeholders are refused
    URL = 0  # a connection string that embeds a credential: only placeholders are refused


# Values that are seeds or examples, never real secrets (lower-cased comparison).
_PLACEHOLDER = re.compile(
    r"(seed[-_ ]?me|change[-_ ]?me|replace[-_ ]?me|your[-_ ]|placeholder|example|dummy|"
    r"^(secret|password|passwd|test|testing|default|none|null|x+|0+|1234\d*|todo|tbd|fixme)$)",
    re.IGNORECASE,
)


class SettingsError(RuntimeError):
    """Start-up must stop: the message names the variable to fix."""


class CommonSettings(BaseModel):
    """Variables every service reads. Field `foo_bar` comes from env var `FOO_BAR`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    app_env: AppEnv = "dev"
    port: int = 8000
    # Prometheus metrics listen here, a port the load balancer never routes; unset: no
    # metrics listener (tests), the app still counts.
    metrics_port: int | None = None
    log_level: str = "INFO"
    database_url: SecretStr
    jwt_secret: SecretStr
    jwks_url: str | None = None
    # Comma-separated. Unset: HS256 alone, or RS256,ES256 alone when JWKS_URL is set (HS256
    # next to a JWKS only when listed here).
    jwt_algorithms: str | None = None
    # Supabase: audience "authenticated", issuer "https://<project>.supabase.co/auth/v1".
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_max_lifetime_seconds: int = 24 * 3600
    # The deploy job's smoke identity: its own key, read-only, never a real user's id.
    smoke_jwt_secret: SecretStr | None = None
    max_body_bytes: int = 64 * 1024

    # Env var -> value used when the variable is unset outside prod. Production refuses both a
    # missing variable and any of these values.
    DEV_DEFAULTS: ClassVar[dict[str, str]] = {
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/betfuz_dev",
        "JWT_SECRET": DEV_MARK + "jwt-secret-change-me-0123456789abcdef",
    }
    # Set in production or start-up stops (on top of every variable with a dev default).
    PROD_REQUIRED: ClassVar[tuple[str, ...]] = ("JWT_AUDIENCE", "JWT_ISSUER")
    SECRETS: ClassVar[dict[str, SecretKind]] = {
        "DATABASE_URL": SecretKind.URL,
        "JWT_SECRET": SecretKind.GENERATED,
        "SMOKE_JWT_SECRET": SecretKind.GENERATED,
    }

    @property
    def is_prod(self) -> bool:
        return self.app_env == "prod"

    def algorithms(self) -> tuple[str, ...]:
        if self.jwt_algorithms:
            return tuple(a.strip() for a in self.jwt_algorithms.split(",") if a.strip())
        return ("RS256", "ES256") if self.jwks_url else ("HS256",)


S = TypeVar("S", bound=CommonSettings)


def _merged(cls: type[CommonSettings], name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(getattr(klass, "__dict__", {}).get(name, {}))
    return merged


def _prod_required(cls: type[CommonSettings]) -> list[str]:
    found: list[str] = []
    for klass in reversed(cls.__mro__):
        found.extend(getattr(klass, "__dict__", {}).get("PROD_REQUIRED", ()))
    return found


def load_settings(cls: type[S], environ: Mapping[str, str]) -> S:
    """Build `cls` from `environ`; in prod, refuse what could not be a real production value."""
    app_env = environ.get("APP_ENV", "dev")
    defaults = _merged(cls, "DEV_DEFAULTS")
    raw: dict[str, Any] = {}
    for field in cls.model_fields:
        var = field.upper()
        value = environ.get(var)
        if value is None and app_env != "prod" and var in defaults:
            value = defaults[var]
        if value is not None and value != "":
            raw[field] = value
    if app_env == "prod":
        _refuse_dev_values(raw, defaults)
        for var in _prod_required(cls):
            if raw.get(var.lower()) is None:
                raise SettingsError(f"{var} must be set when APP_ENV=prod")
        _refuse_weak_secrets(raw, _merged(cls, "SECRETS"))
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise SettingsError(f"invalid configuration: {problems}") from None


def _refuse_dev_values(raw: Mapping[str, Any], defaults: Mapping[str, str]) -> None:
    for var, dev_value in defaults.items():
        value = raw.get(var.lower())
        if value is None:
            raise SettingsError(f"{var} must be set when APP_ENV=prod")
        if value == dev_value or str(value).startswith(DEV_MARK):
            raise SettingsError(
                f"{var} holds a dev-only default; set a real value for APP_ENV=prod"
            )


def _refuse_weak_secrets(raw: Mapping[str, Any], secrets: Mapping[str, SecretKind]) -> None:
    for var, kind in secrets.items():
        value = raw.get(var.lower())
        if value is None:
            continue
        # A rotation lists several keys: each one must be a real key.
        parts = [value] if kind is SecretKind.URL else str(value).split(",")
        for part in (p.strip() for p in parts):
            if not part or _PLACEHOLDER.search(part) or len(set(part)) == 1:
                raise SettingsError(f"{var} holds a placeholder, not a secret")
            if len(part.encode()) < kind.value:
                raise SettingsError(f"{var} is too short: at least {kind.value} bytes")


def secret_list(value: SecretStr) -> list[bytes]:
    """A comma-separated secret holds several active keys during a rotation."""
    return [part.strip().encode() for part in value.get_secret_value().split(",") if part.strip()]
