"""What the running stack records for other commands, and how they read it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dev import stack_env
from dev.state import PID_KEY, clear_state, is_running, read_state, running_state, write_state


def test_the_state_file_reads_back_what_was_written_even_odd_values(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    values = {
        "LEDGER_CONTRACT_ADDRESS": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "DATABASE_URL": "postgresql://svc:p@ss w'rd$@127.0.0.1:5432/betfuz_dev",
        "EMPTY": "",
    }
    write_state(values, path)
    assert read_state(path) == values


def test_the_state_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    write_state({"DATABASE_URL": "postgresql://svc:secret@127.0.0.1/betfuz_dev"}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_left_by_a_stack_that_is_gone_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    write_state({PID_KEY: "999999999", "LEDGER_CONTRACT_ADDRESS": "0xdead"}, path)
    assert read_state(path) is not None
    assert running_state(path) is None


def test_a_live_process_that_is_not_the_stack_does_not_count() -> None:
    # This test's own pid is alive, but it is pytest, not dev.stack (a reused pid).
    assert not is_running({PID_KEY: str(os.getpid())})


def test_a_stack_clears_only_the_file_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    write_state({PID_KEY: "123"}, path)
    clear_state(path, pid=456)
    assert path.exists()
    clear_state(path, pid=123)
    assert not path.exists()


def test_a_variable_set_by_the_person_wins_over_the_recorded_one() -> None:
    merged = stack_env.merged_environment(
        {"LEDGER_CONTRACT_ADDRESS": "0xmine"},
        {PID_KEY: "1", "LEDGER_CONTRACT_ADDRESS": "0xstack", "LEDGER_CHAIN_ID": "31337"},
    )
    assert merged == {"LEDGER_CONTRACT_ADDRESS": "0xmine", "LEDGER_CHAIN_ID": "31337"}


def test_a_needed_variable_found_nowhere_stops_with_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack_env, "running_state", lambda: None)
    monkeypatch.setattr(stack_env, "read_state", lambda: None)
    monkeypatch.delenv("LEDGER_CONTRACT_ADDRESS", raising=False)
    code = stack_env.main(["--need", "LEDGER_CONTRACT_ADDRESS", "true"])
    assert code == 2
    message = capsys.readouterr().err
    assert "LEDGER_CONTRACT_ADDRESS is not set and the local stack is not running" in message
    assert "make run" in message


def test_a_stale_state_file_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack_env, "running_state", lambda: None)
    monkeypatch.setattr(stack_env, "read_state", lambda: {PID_KEY: "1"})
    monkeypatch.delenv("LEDGER_CONTRACT_ADDRESS", raising=False)
    assert stack_env.main(["--need", "LEDGER_CONTRACT_ADDRESS", "true"]) == 2
    assert "left from a local stack that has stopped" in capsys.readouterr().err
