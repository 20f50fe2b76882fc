"""What the running local stack deployed and where, in `.run/stack.env` for every other command.

`make run` writes it once the stack is up (the BetLedger address, chain id and network that the
deploy step printed, the database, the ports) and removes it when it stops. KEY=VALUE lines: a
shell can `source` it, and `python -m dev.stack_env <command>` runs a command with it.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_DIR = REPO / ".run"
STATE_FILE = RUN_DIR / "stack.env"
PID_KEY = "STACK_PID"
_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def write_state(values: Mapping[str, str], path: Path = STATE_FILE) -> None:
    """Atomically, readable by its owner only (the database URL may hold a password)."""
    for key, value in values.items():
        if not _LINE.match(f"{key}=") or "\n" in value:
            raise ValueError(f"{key}: not a variable {path.name} can hold")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Quoted as a shell would need them, so `source .run/stack.env` reads the same values.
    body = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    header = (
        "# Written by `make run` while the local stack runs; removed when it stops.\n"
        "# `python -m dev.stack_env <command>` (or `source` in a shell) reads it.\n"
    )
    partial = path.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(header + body)
    partial.replace(path)


def read_state(path: Path = STATE_FILE) -> dict[str, str] | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        if match := _LINE.match(line):
            words = shlex.split(match[2])
            values[match[1]] = words[0] if words else ""
    return values


def is_running(state: Mapping[str, str]) -> bool:
    """The stack that wrote `state` is still alive (not a crashed run's leftover file)."""
    pid_text = state.get(PID_KEY, "")
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        # A reused pid is not our stack.
        return b"dev.stack" in cmdline.read_bytes()
    return True


def running_state(path: Path = STATE_FILE) -> dict[str, str] | None:
    state = read_state(path)
    return state if state is not None and is_running(state) else None


def clear_state(path: Path = STATE_FILE, pid: int | None = None) -> None:
    """Remove the file if it is this stack's (another stack may have written it since)."""
    state = read_state(path)
    if state is None:
        return
    if pid is None or state.get(PID_KEY) == str(pid):
        path.unlink(missing_ok=True)
