"""The make targets a newcomer types first refuse bad input with a message, not a trace."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def make(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - make, with this test's own arguments
        ["make", "-s", "--no-print-directory", *args],  # noqa: S607 - make from PATH, as people run it
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_token_without_user_refuses_even_though_the_shell_exports_user() -> None:
    # Every login shell exports USER (the login name): it must not become the token's subject.
    result = make("token", USER="root")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "make token needs USER=<user id>, e.g. USER=demo-ada" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_token_with_a_user_prints_only_the_token() -> None:
    result = make("token", "USER=demo-auditor", "ROLE=compliance")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(".") == 2


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["ACCOUNT=0123456789", "AMOUNT=abc"], "amount 'abc' is not a positive naira amount"),
        (["ACCOUNT=12", "AMOUNT=5"], "account '12' is not a 10-digit account number"),
        (["AMOUNT=5"], "needs ACCOUNT=<10 digits> or USER=<user id>"),
        (["ACCOUNT=0123456789", "AMOUNT=5", "DUPLICATES=many"], "DUPLICATES:"),
        (["ACCOUNT=0123456789", "AMOUNT=5", "NOTIFY=maybe"], "NOTIFY must be 0"),
        (["ACCOUNT=0123456789", "AMOUNT=5'; echo injected; '"], "is not a positive naira"),
    ],
)
def test_make_deposit_refuses_bad_input_with_a_message(args: list[str], said: str) -> None:
    result = make("deposit", *args)
    assert result.returncode != 0
    assert said in result.stderr
    assert "injected" not in result.stdout
    assert "Traceback" not in result.stderr
    assert "Internal Server Error" not in result.stderr


@pytest.mark.parametrize("day", ["yesterday", "2026-02-30", "2026-12-01'; echo injected; '"])
def test_make_recon_refuses_a_bad_date_with_a_message(day: str) -> None:
    result = make("recon", f"DATE={day}")
    assert result.returncode != 0
    assert "is not a date as YYYY-MM-DD" in result.stderr
    assert "injected" not in result.stdout
    assert "Traceback" not in result.stderr


def test_make_seed_refuses_a_database_that_is_not_the_local_dev_one() -> None:
    result = make("seed", DATABASE_URL="postgresql://svc@db.example.com:5432/betfuz")
    assert result.returncode == 2
    assert "refused" in result.stderr
    assert "FORCE=1" in result.stderr


def test_make_help_lists_the_newcomer_targets_without_colour_in_a_pipe() -> None:
    result = make("help")
    assert result.returncode == 0
    for target in ("run", "seed", "demo", "token", "deposit", "ledger-tick", "smoke"):
        assert f"  {target} " in result.stdout
    assert "\033[" not in result.stdout
