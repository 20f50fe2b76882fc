"""The stack runner's log relay: one record per event, JSON in files, readable on a terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

from dev.logs import ANSI, LineStream, Relay, TextGrouper, relay_lines, strip_ansi, text_record

TRACEBACK = [
    "ERROR:    Exception in ASGI application",
    "Traceback (most recent call last):",
    '  File "/app/router.py", line 60, in proxy',
    "    answer = await client.send(upstream)",
    "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    "ValueError: upstream said no",
]
CHAINED = [
    "Traceback (most recent call last):",
    '  File "a.py", line 1, in <module>',
    "KeyError: 'x'",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    '  File "a.py", line 3, in <module>',
    "RuntimeError: while handling",
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def groups(lines: list[str]) -> list[list[str]]:
    grouper = TextGrouper()
    found = [group for line in lines for group in grouper.feed(line)]
    return found + grouper.flush()


def test_a_traceback_and_the_line_that_announced_it_are_one_record() -> None:
    assert groups([*TRACEBACK, "INFO:     next event"]) == [TRACEBACK, ["INFO:     next event"]]


def test_chained_tracebacks_stay_in_one_record() -> None:
    assert groups([*CHAINED, "", "a later line"]) == [CHAINED, ["a later line"]]


def test_plain_lines_are_one_record_each_and_blank_lines_carry_nothing() -> None:
    assert groups(["LEDGER_CHAIN_ID=31337", "", "LEDGER_NETWORK=anvil"]) == [
        ["LEDGER_CHAIN_ID=31337"],
        ["LEDGER_NETWORK=anvil"],
    ]


def test_a_plain_record_takes_its_level_from_a_traceback_or_a_leading_level_word() -> None:
    assert text_record("router", TRACEBACK)["level"] == "error"
    assert text_record("router", ["WARNING:  slow upstream"])["level"] == "warning"
    assert text_record("deploy", ["LEDGER_CHAIN_ID=31337"])["level"] == "info"


def test_escape_codes_are_stripped_from_plain_output() -> None:
    assert strip_ansi("\033[32mINFO\033[0m: \033[1mready\033[0m") == "INFO: ready"


def test_files_get_json_lines_and_a_pipe_gets_json_lines_naming_the_process(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    relay = Relay(tmp_path, out)
    child_line = '{"event": "request", "status": 201, "level": "info"}'
    relay_lines("router", iter([*(line + "\n" for line in TRACEBACK), child_line + "\n"]), relay)
    relay.close()
    written = (tmp_path / "router.log").read_text().splitlines()
    assert len(written) == 2
    records = [json.loads(line) for line in written]
    assert records[0]["event"] == "\n".join(TRACEBACK)
    assert written[1] == child_line  # a child's own record is kept exactly as it wrote it
    shown = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["process"] for r in shown] == ["router", "router"]
    assert shown[1]["status"] == 201


def test_a_terminal_gets_readable_lines_with_the_process_name_and_files_stay_plain(
    tmp_path: Path,
) -> None:
    out = Terminal()
    relay = Relay(tmp_path, out)
    relay.line("topup", '{"event": "topup_created", "level": "info", "amount": "1000.00"}')
    relay.close()
    shown = strip_ansi(out.getvalue())
    assert shown.startswith("    topup |")
    assert "topup_created amount=1000.00" in shown
    assert ANSI.search((tmp_path / "topup.log").read_text()) is None


def test_a_banner_prints_under_its_event_on_a_terminal_and_stays_a_list_in_json(
    tmp_path: Path,
) -> None:
    out = Terminal()
    relay = Relay(tmp_path, out)
    relay.record("stack", {"event": "stack is up", "level": "info", "banner": ["Try: make demo"]})
    relay.close()
    assert "stack |   Try: make demo" in strip_ansi(out.getvalue())
    (line,) = (tmp_path / "stack.log").read_text().splitlines()
    assert json.loads(line)["banner"] == ["Try: make demo"]


def test_the_stacks_own_loggers_write_whole_lines_through_the_relay(tmp_path: Path) -> None:
    out = io.StringIO()
    relay = Relay(tmp_path, out)
    stream = LineStream(relay, "stack")
    stream.write('{"event": "database ready", ')
    assert out.getvalue() == ""  # half a line is not a record yet
    stream.write('"level": "info"}\n')
    relay.close()
    assert json.loads(out.getvalue())["event"] == "database ready"
    assert not stream.isatty()
