from typing import ClassVar

import pytest
from pydantic import SecretStr

from betfuz_common.settings import (
    DEV_MARK,
    CommonSettings,
    SecretKind,
    SettingsError,
    load_settings,
    secret_list,
)


class DemoSettings(CommonSettings):
    provider_secret: SecretStr
    provider_pin: SecretStr

    DEV_DEFAULTS: ClassVar[dict[str, str]] = {
        "PROVIDER_SECRET": DEV_MARK + "provider",
        "PROVIDER_PIN": DEV_MARK + "1111",
    }
    SECRETS: ClassVar[dict[str, SecretKind]] = {
        "PROVIDER_SECRET": SecretKind.ISSUED,
        "PROVIDER_PIN": SecretKind.PIN,
    }


PROD_ENV = {
    "APP_ENV": "prod",
    "DATABASE_URL": "postgresql://svc:pw@db.internal:5432/betfuz",
    "JWT_SECRET": "a-real-production-secret-value-xyz",
    "JWT_AUDIENCE": "authenticated",
    "JWT_ISSUER": "https://project.supabase.co/auth/v1",
    "PROVIDER_SECRET": "real-provider-secret",
    "PROVIDER_PIN": "4721",
}


def test_dev_mode_fills_in_the_marked_dev_defaults() -> None:
    settings = load_settings(DemoSettings, {})
    assert settings.provider_secret.get_secret_value().startswith(DEV_MARK)
    assert settings.app_env == "dev"


def test_prod_accepts_real_values() -> None:
    settings = load_settings(DemoSettings, PROD_ENV)
    assert settings.is_prod


def test_prod_refuses_a_dev_default_secret_and_names_the_variable() -> None:
    env = {**PROD_ENV, "JWT_SECRET": DemoSettings.DEV_DEFAULTS.get("JWT_SECRET", "")}
    env["JWT_SECRET"] = CommonSettings.DEV_DEFAULTS["JWT_SECRET"]
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings(DemoSettings, env)


def test_prod_refuses_any_value_carrying_the_dev_marker() -> None:
    with pytest.raises(SettingsError, match="PROVIDER_SECRET"):
        load_settings(DemoSettings, {**PROD_ENV, "PROVIDER_SECRET": DEV_MARK + "other"})


def test_prod_refuses_a_missing_secret_and_names_the_variable() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "PROVIDER_SECRET"}
    with pytest.raises(SettingsError, match="PROVIDER_SECRET"):
        load_settings(DemoSettings, env)


def test_an_invalid_value_is_reported_by_variable_name() -> None:
    with pytest.raises(SettingsError, match="PORT"):
        load_settings(DemoSettings, {"PORT": "eighty"})


def test_secret_list_splits_rotation_secrets() -> None:
    assert secret_list(SecretStr(" new , old ,")) == [b"new", b"old"]


def test_settings_never_print_their_secrets() -> None:
    settings = load_settings(DemoSettings, PROD_ENV)
    assert "real-provider-secret" not in repr(settings)


@pytest.mark.parametrize("variable", ["JWT_AUDIENCE", "JWT_ISSUER"])
def test_prod_requires_the_token_audience_and_issuer(variable: str) -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != variable}
    with pytest.raises(SettingsError, match=variable):
        load_settings(DemoSettings, env)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JWT_SECRET", "seed-me"),
        ("JWT_SECRET", "CHANGE_ME-0123456789abcdef0123456789"),
        ("JWT_SECRET", "x" * 40),
        ("JWT_SECRET", "short-but-real-looking-31-bytes"),
        ("PROVIDER_SECRET", "seed-me"),
        ("PROVIDER_SECRET", "your_secret_key"),
        ("PROVIDER_SECRET", "x"),
        ("PROVIDER_SECRET", "fifteen-chars!!"),
        ("PROVIDER_PIN", "0000"),
        ("PROVIDER_SECRET", "real-provider-secret,seed-me"),
        ("DATABASE_URL", "postgresql://user:password@your_host/db"),
    ],
)
def test_prod_refuses_placeholders_and_short_secrets_naming_the_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(DemoSettings, {**PROD_ENV, variable: value})


def test_a_pin_is_exempt_from_the_length_rule_but_not_from_placeholders() -> None:
    assert load_settings(DemoSettings, {**PROD_ENV, "PROVIDER_PIN": "9137"}).is_prod
