"""Settings from environment variables only, with dev defaults that production refuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

AppEnv = Literal["dev", "test", "prod"]

# Every dev default carries this marker so a human reading a config dump sees what it is.
DEV_MARK = "dev-only-"


class SettingsError(RuntimeError):
    """Start-up must stop: the message names the variable to fix."""


class CommonSettings(BaseModel):
    """Variables every service reads. Field `foo_bar` comes from env var `FOO_BAR`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    app_env: AppEnv = "dev"
    port: int = 8000
    log_level: str = "INFO"
    database_url: SecretStr
    jwt_secret: SecretStr
    jwks_url: str | None = None
    max_body_bytes: int = 64 * 1024

    # Env var -> value used when the variable is unset outside prod. Production refuses both a
    # missing variable and any of these values.
    DEV_DEFAULTS: ClassVar[dict[str, str]] = {
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/betfuz_dev",
        "JWT_SECRET": DEV_MARK + "jwt-secret-change-me-0123456789abcdef",
    }

    @property
    def is_prod(self) -> bool:
        return self.app_env == "prod"


S = TypeVar("S", bound=CommonSettings)


def _dev_defaults(cls: type[CommonSettings]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        merged.update(getattr(klass, "__dict__", {}).get("DEV_DEFAULTS", {}))
    return merged


def load_settings(cls: type[S], environ: Mapping[str, str]) -> S:
    """Build `cls` from `environ`; in prod, refuse missing secrets and dev defaults by name."""
    app_env = environ.get("APP_ENV", "dev")
    defaults = _dev_defaults(cls)
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


def secret_list(value: SecretStr) -> list[bytes]:
    """A comma-separated secret holds several active keys during a rotation."""
    return [part.strip().encode() for part in value.get_secret_value().split(",") if part.strip()]
