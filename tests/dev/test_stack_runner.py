"""The stack runner with real child processes (tiny modules written for the test), no ports."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import textwrap
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from dev.logs import Relay
from dev.stack import (
    DEV_LEDGER_INTERVAL_SECONDS,
    Proc,
    Stack,
    StartFailed,
    banner,
    busy_ports,
    core_processes,
    seed_demo_data,
)


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    """A directory of child programs, importable with -m through PYTHONPATH."""
    folder = tmp_path / "children"
    folder.mkdir()
    (folder / "crashes.py").write_text(
        textwrap.dedent(
            """
            import json, sys
            print(json.dumps({"event": "starting", "level": "info"}), flush=True)
            raise RuntimeError("boom at start")
            """
        )
    )
    (folder / "prints_settings.py").write_text(
        "print('LEDGER_CONTRACT_ADDRESS=0xabc')\nprint('not a setting line')\n"
    )
    (folder / "shows_env.py").write_text(
        "import os, json\nprint(json.dumps({'event': 'env', 'address':"
        " os.environ.get('LEDGER_CONTRACT_ADDRESS'), 'format': os.environ.get('LOG_FORMAT')}))\n"
    )
    return folder


def proc(
    name: str, module: str, folder: Path, *, setup: bool = False, after_setup: bool = False
) -> Proc:
    env = {"PYTHONPATH": str(folder)}
    return Proc(name, module, env=env, setup=setup, after_setup=after_setup)


async def test_a_child_that_crashes_leaves_one_record_per_event_in_its_file(
    tmp_path: Path, modules: Path
) -> None:
    out = io.StringIO()
    relay = Relay(tmp_path / "run", out)
    stack = Stack(relay, "postgresql://postgres@127.0.0.1:5432/betfuz_dev")
    await stack.start(proc("crashes", "crashes", modules))
    await asyncio.gather(*stack.pumps)  # until it has said everything and exited
    await stack.stop_all()
    relay.close()
    records = [json.loads(line) for line in (tmp_path / "run/crashes.log").read_text().splitlines()]
    assert [r["event"].splitlines()[0] for r in records] == [
        "starting",
        "Traceback (most recent call last):",
    ]
    assert records[1]["level"] == "error"
    assert records[1]["event"].endswith("RuntimeError: boom at start")
    assert all(json.loads(line)["process"] == "crashes" for line in out.getvalue().splitlines())


async def test_a_set_up_steps_settings_reach_the_processes_that_wait_for_it(
    tmp_path: Path, modules: Path
) -> None:
    relay = Relay(tmp_path / "run", io.StringIO())
    stack = Stack(relay, "postgresql://postgres@127.0.0.1:5432/betfuz_dev")
    await stack.start_all(
        [
            proc("deploy", "prints_settings", modules, setup=True),
            proc("ledger", "shows_env", modules, after_setup=True),
        ]
    )
    await asyncio.gather(*stack.pumps)
    await stack.stop_all()
    relay.close()
    (record,) = [json.loads(x) for x in (tmp_path / "run/ledger.log").read_text().splitlines()]
    assert record["address"] == "0xabc"
    assert record["format"] == "json"  # children log JSON; the relay renders for the terminal
    assert stack.recorded == {"LEDGER_CONTRACT_ADDRESS": "0xabc"}
    assert stack.state()["LEDGER_CONTRACT_ADDRESS"] == "0xabc"


async def test_a_failing_set_up_step_stops_the_start_with_where_to_look(
    tmp_path: Path, modules: Path
) -> None:
    relay = Relay(tmp_path / "run", io.StringIO())
    stack = Stack(relay, "postgresql://postgres@127.0.0.1:5432/betfuz_dev")
    with pytest.raises(StartFailed, match=r"set-up step deploy failed: see \.run/deploy\.log"):
        await stack.start_all([proc("deploy", "crashes", modules, setup=True)])
    await stack.stop_all()
    relay.close()


def test_the_dev_ledger_ticks_every_few_seconds_unless_told_otherwise() -> None:
    ledger = next(p for p in core_processes({}) if p.name == "ledger")
    assert ledger.env["LEDGER_INTERVAL_SECONDS"] == DEV_LEDGER_INTERVAL_SECONDS == "5"
    assert ledger.after_setup
    chosen = next(
        p for p in core_processes({"LEDGER_INTERVAL_SECONDS": "60"}) if p.name == "ledger"
    )
    assert chosen.env["LEDGER_INTERVAL_SECONDS"] == "60"


def test_the_production_ledger_tick_is_still_five_minutes() -> None:
    from ledger.config import LedgerSettings

    assert LedgerSettings.model_fields["ledger_interval_seconds"].default == 300


def test_the_banner_says_where_the_stack_is_the_short_tick_and_what_to_try() -> None:
    text = "\n".join(banner("7.9s", "5"))
    assert "http://127.0.0.1:8000" in text
    assert "dev ledger tick: 5 s" in text
    assert "make -s token USER=demo-ada" in text
    assert "make demo" in text


def test_a_port_someone_listens_on_is_found_before_anything_starts() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert busy_ports([port]) == [port]
    assert busy_ports([port]) == []


async def test_a_database_the_seed_refuses_still_gets_a_stack_without_demo_data() -> None:
    with capture_logs() as events:
        await seed_demo_data("postgresql://svc@db.example.com:5432/elsewhere", 0.0)
    (event,) = events
    assert event["event"] == "no demo data this run"
    assert event["log_level"] == "warning"
    assert "not the local dev database" in event["reason"]
