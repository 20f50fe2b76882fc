from typing import ClassVar

import pytest
from pydantic import SecretStr

from betfuz_common.settings import (
    DEV_MARK,
    CommonSettings,
    SettingsError,
    load_settings,
    secret_list,
)


class DemoSettings(CommonSettings):
    provider_secret: SecretStr

    DEV_DEFAULTS: ClassVar[dict[str, str]] = {"PROVIDER_SECRET": DEV_MARK + "provider"}


PROD_ENV = {
    "APP_ENV": "prod",
    "DATABASE_URL": "postgresql://svc:pw@db.internal:5432/betfuz",
    "JWT_SECRET": "a-real-production-secret-value-xyz",
    "PROVIDER_SECRET": "real-provider-secret",
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
