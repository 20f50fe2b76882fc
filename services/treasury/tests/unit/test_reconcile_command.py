"""`python -m treasury reconcile`: its arguments are refused before anything is asked."""

import argparse
from datetime import date, timedelta

import pytest

from betfuz_common.settings import SettingsError, load_settings
from services.treasury.tests.support import settings_env
from treasury.__main__ import EXIT_USAGE, parse_day, reconcile_command
from treasury.config import TreasurySettings
from treasury.statement import lagos_today

# Nothing listens here: a command that got past its arguments would fail to connect.
SETTINGS = load_settings(TreasurySettings, settings_env("postgresql://127.0.0.1:9/none"))


def test_a_day_is_read_as_yyyy_mm_dd() -> None:
    assert parse_day("2026-12-01") == date(2026, 12, 1)


@pytest.mark.parametrize(
    "text",
    [
        "20261201",  # date.fromisoformat takes it; a person meant something else
        "2026-W48-2",
        "2026-12-1",
        "2026-02-30",
        "٢٠٢٦-١٢-٠١",  # Arabic-Indic digits
        "2026-12-01\x00",
        "1999-12-31",
        "9999-12-31",  # its end would overflow the calendar
        "",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_day(text)


def test_a_day_after_tomorrow_in_lagos_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_day((lagos_today() + timedelta(days=2)).isoformat())


@pytest.mark.parametrize(
    "extra",
    [["--date", "tomorrow"], ["--date"], ["--once", "--date", "2026-12-01"], ["--verbose"]],
)
def test_bad_arguments_exit_2_without_asking_anyone(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert reconcile_command(SETTINGS, argparse.Namespace(extra=extra)) == EXIT_USAGE
    assert "usage: python -m treasury reconcile" in capsys.readouterr().err


@pytest.mark.parametrize("interval", ["0.5", "-1", "soon"])
def test_a_reconciliation_interval_that_would_hammer_wema_is_refused(interval: str) -> None:
    env = {
        **settings_env("postgresql://127.0.0.1:9/none"),
        "TREASURY_RECONCILE_INTERVAL_SECONDS": interval,
    }
    with pytest.raises(SettingsError, match="TREASURY_RECONCILE_INTERVAL_SECONDS"):
        load_settings(TreasurySettings, env)
