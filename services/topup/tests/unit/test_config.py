import pytest

from betfuz_common.settings import SettingsError, load_settings
from topup.config import (
    DEV_UTILITY_CODES,
    TopupSettings,
    parse_utility_codes,
)


def test_the_dev_utility_codes_cover_every_carrier_and_type() -> None:
    codes = parse_utility_codes(DEV_UTILITY_CODES)
    assert len(codes) == 8
    assert codes[("mtn", "airtime")] == "TOP"


def test_utility_codes_can_be_given_as_json() -> None:
    pairs = {f"{c}:{t}": f"{c}{t}".upper() for c in ("mtn", "airtel", "glo", "9mobile")
             for t in ("airtime", "data")}  # fmt: skip
    text = "{" + ",".join(f'"{k}": "{v}"' for k, v in pairs.items()) + "}"
    assert parse_utility_codes(text)[("9mobile", "data")] == "9MOBILEDATA"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mtn:airtime=TOP", "no utility code for"),
        ("mtn:airtime", "expected carrier:type=CODE"),
        (DEV_UTILITY_CODES + ",etisalat:airtime=X", "unknown carrier/type"),
        (DEV_UTILITY_CODES.replace("=TOP", "="), "unknown carrier/type or empty code"),
    ],
)
def test_an_incomplete_or_wrong_code_map_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_utility_codes(raw)


def test_settings_refuse_to_start_with_a_broken_code_map() -> None:
    with pytest.raises(SettingsError, match="SELCOM_UTILITY_CODES"):
        load_settings(TopupSettings, {"SELCOM_UTILITY_CODES": "mtn:airtime=TOP"})


def test_production_must_set_its_own_utility_codes() -> None:
    env = {
        "APP_ENV": "prod",
        "DATABASE_URL": "postgresql://db/x",
        "JWT_SECRET": "a-production-jwt-secret-of-forty-bytes!!",
        "JWT_AUDIENCE": "authenticated",
        "JWT_ISSUER": "https://auth.test",
        "SELCOM_API_KEY": "selcom-issued-key-01",
        "SELCOM_API_SECRET": "selcom-issued-secret-01",
        "SELCOM_BASE_URL": "https://gw",
        "SELCOM_VENDOR": "V",
        "SELCOM_PIN": "8142",
        "API_BASE_URL": "https://api",
        "VTPASS_USERNAME": "payments@betfuz.ng",
        "VTPASS_PASSWORD": "vtpass-issued-password-01",
        "VTPASS_BASE_URL": "https://vtpass",
    }
    with pytest.raises(SettingsError, match="SELCOM_UTILITY_CODES"):
        load_settings(TopupSettings, env)
    ok = load_settings(TopupSettings, {**env, "SELCOM_UTILITY_CODES": DEV_UTILITY_CODES + " "})
    assert ok.utility_codes[("glo", "data")] == "GLODATA"
