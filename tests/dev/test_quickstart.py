"""The README's quick-start, run as a newcomer would against `make run`, and what it prints.

Runs only when BETFUZ_STACK_TESTS=1: dev/ci_smoke.sh (CI's smoke step) sets it once `make run`
is up, so every CI run goes through it. The commands come from the README itself, so the page
and the test cannot drift apart: a command this test does not know fails it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from dev.logs import ANSI

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- quick-start:"
CSV_HEADER = ["betSlipId", "betHash", "winAmount", "txHash", "blockNumber", "timestamp"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("BETFUZ_STACK_TESTS") != "1",
        reason="runs in dev/ci_smoke.sh against `make run` (BETFUZ_STACK_TESTS=1)",
    ),
]


def quick_start_commands(readme: str) -> list[str]:
    """The shell commands of the README's quick-start block, continuation lines joined."""
    block = readme.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(pending.strip())
            pending = ""
    return commands


def run_in_one_shell(commands: list[str]) -> list[tuple[int, str]]:
    """Every command in one bash, as pasted into a terminal: (exit status, output) each."""
    script = ["cd " + str(REPO)]
    for index, command in enumerate(commands):
        script += [f"echo '@@step {index}'", command, f'echo "@@exit {index} $?"']
    done = subprocess.run(  # noqa: S603 - bash running the README's own commands
        ["bash", "-c", "\n".join(script)],  # noqa: S607 - bash from PATH, as a person has it
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    results: list[tuple[int, str]] = []
    for index in range(len(commands)):
        match = re.search(
            rf"^@@step {index}\n(.*?)^@@exit {index} (\d+)$", done.stdout, re.S | re.M
        )
        assert match, f"command {index} never finished:\n{done.stdout}\n{done.stderr}"
        results.append((int(match[2]), match[1]))
    return results


def http_answer(output: str) -> tuple[int, dict[str, object]]:
    """curl -w '\\nHTTP <code>' output: the status and the JSON body before it."""
    body, _, status = output.rstrip("\n").rpartition("\nHTTP ")
    parsed = json.loads(body)
    assert isinstance(parsed, dict)
    return int(status), parsed


def prints_nothing(output: str) -> None:
    assert output == ""


def purchase(output: str) -> None:
    status, body = http_answer(output)
    assert status == 201
    assert str(body["transactionId"]).startswith("top_")
    assert body["status"] in ("pending", "completed")


def account_opened(output: str) -> None:
    status, body = http_answer(output)
    assert status == 201
    assert re.fullmatch(r"\d{10}", str(body["accountNumber"]))
    assert body["status"] == "active"


def account_read(output: str) -> None:
    status, body = http_answer(output)
    assert status == 200
    assert re.fullmatch(r"\d{10}", str(body["accountNumber"]))


def deposit_credited(output: str) -> None:
    assert "the treasury webhook answered 200 ×1: credited ×1" in output


def ledger_entries(output: str) -> None:
    status, body = http_answer(output)
    assert status == 200
    assert isinstance(body["items"], list)


def csv_export(output: str) -> None:
    rows = list(csv.reader(io.StringIO(output)))
    assert rows[0] == CSV_HEADER


def the_demo(output: str) -> None:
    for step in range(9):
        assert re.search(rf"^{step}\. ", output, re.M), f"step {step} missing:\n{output}"
    assert "status completed" in output
    assert "status failed" in output
    assert "→ 402 insufficient_funds" in output
    assert "POST /treasury/accounts → 201" in output
    assert "→ credited" in output
    assert "status confirmed" in output
    assert ",".join(CSV_HEADER) in output
    assert "verified: true" in output
    assert "✓ demo done" in output


# What each quick-start command must print, told apart by what the command is.
EXPECTED: list[tuple[re.Pattern[str], Callable[[str], None]]] = [
    (
        re.compile(r"^(TOKEN|AUDITOR)=\$\(make -s token USER=[\w-]+( ROLE=compliance)?\)$"),
        prints_nothing,
    ),
    (re.compile(r"^curl .*-X POST http://127\.0\.0\.1:8000/topup "), purchase),
    (re.compile(r"^curl .*-X POST http://127\.0\.0\.1:8000/treasury/accounts "), account_opened),
    (re.compile(r"^curl .*http://127\.0\.0\.1:8000/treasury/accounts/me "), account_read),
    (re.compile(r"^make deposit USER=demo-ada AMOUNT=\d+$"), deposit_credited),
    (re.compile(r"^curl .*http://127\.0\.0\.1:8000/ledger/entries "), ledger_entries),
    (re.compile(r"^curl .*http://127\.0\.0\.1:8000/ledger/export\.csv "), csv_export),
    (re.compile(r"^make demo$"), the_demo),
]


def expectation_for(command: str) -> Callable[[str], None]:
    found = [check for pattern, check in EXPECTED if pattern.search(command)]
    assert len(found) == 1, f"the quick-start gained a command this test does not check: {command}"
    return found[0]


def test_the_quick_start_block_is_the_spec_examples_and_the_demo() -> None:
    commands = quick_start_commands((REPO / "README.md").read_text())
    checks = [expectation_for(command) for command in commands]
    assert the_demo in checks
    assert purchase in checks
    assert account_opened in checks


def test_every_quick_start_command_prints_what_the_readme_promises() -> None:
    commands = quick_start_commands((REPO / "README.md").read_text())
    results = run_in_one_shell(commands)
    for command, (status, output) in zip(commands, results, strict=True):
        assert status == 0, f"{command}\nexited {status}:\n{output}"
        expectation_for(command)(output)


def test_a_second_demo_run_shows_the_whole_story_again_with_fresh_ids() -> None:
    first, second = (
        subprocess.run(
            ["make", "-s", "demo"],  # noqa: S607 - make from PATH, as a person types it
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        for _ in range(2)
    )
    for run in (first, second):
        assert run.returncode == 0, run.stdout + run.stderr
        the_demo(run.stdout)
    ids = re.compile(r"top_[0-9a-f]{24}")
    assert set(ids.findall(first.stdout)).isdisjoint(ids.findall(second.stdout))


def test_the_stacks_log_files_are_json_lines_without_escape_codes() -> None:
    logs = sorted((REPO / ".run").glob("*.log"))
    names = {path.stem for path in logs}
    assert {"stack", "topup", "treasury", "ledger", "selcom", "wema", "deploy"} <= names
    for path in logs:
        if path.name in ("ci-stack.log", "pip-install.log"):
            continue  # make's own output and pip's: not the stack's records
        text = path.read_text()
        assert ANSI.search(text) is None, path
        for line in text.splitlines():
            record = json.loads(line)
            assert "event" in record, (path, line)


def test_the_state_file_names_what_the_stack_deployed() -> None:
    from dev.state import running_state

    state = running_state()
    assert state is not None, "make run should have written .run/stack.env"
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", state["LEDGER_CONTRACT_ADDRESS"])
    assert state["LEDGER_CHAIN_ID"] == "31337"
    assert state["LEDGER_NETWORK"] == "anvil"
    assert state["LEDGER_INTERVAL_SECONDS"] == "5"


def test_make_ledger_tick_works_beside_the_running_stack() -> None:
    tick = subprocess.run(
        ["make", "-s", "ledger-tick"],  # noqa: S607 - make from PATH, as a person types it
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert "LEDGER_CONTRACT_ADDRESS is not set" not in tick.stderr
    summary = json.loads(tick.stdout.strip().splitlines()[-1])
    assert summary["failed"] == 0
