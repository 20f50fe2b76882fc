"""What `make run` does with every line its processes print: one format per destination.

- `.run/<name>.log`: JSON lines, always (a child's JSON record as it wrote it; anything else
  wrapped into a record), never an escape code.
- the stack's stdout: on a terminal, one readable line per event, the process name in front;
  anywhere else (a pipe, `make run > file`, CI), JSON lines with a `process` field.

The services and sandboxes log JSON lines (the stack sets LOG_FORMAT=json for them). The lines
that are not JSON (the deploy step's KEY=VALUE output, a crash before logging is set up, a
third-party program) are grouped so a traceback stays one record, not one per line.
"""

from __future__ import annotations

import io
import json
import re
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from betfuz_common.logging import render_console, use_colour

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
NAME_COLOURS = ["36", "35", "33", "32", "34", "31", "96", "95", "94"]
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_LEVEL_WORD = re.compile(r"^(?P<level>ERROR|CRITICAL|WARNING|WARN)\b[: ]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def json_record(line: str) -> dict[str, Any] | None:
    """The structured record a line holds, or None for plain text."""
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "event" in record else None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def text_record(name: str, lines: list[str]) -> dict[str, Any]:
    """Plain output as a record: level from a traceback or a leading ERROR/WARNING word."""
    text = "\n".join(lines)
    level = "info"
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        level = "error"
    elif match := _LEVEL_WORD.match(lines[0]):
        word = match["level"].lower()
        level = "warning" if word.startswith("warn") else word
    return {"event": text, "level": level, "logger": name, "timestamp": now_iso()}


class TextGrouper:
    """Joins the lines of one traceback (and its chained causes) into one record's text.

    A line continues the record before it when it is indented, opens a traceback, is the
    exception line that closes one, or is the blank or "During handling..." line between two
    chained tracebacks. Blank lines outside a traceback carry nothing and are dropped.
    """

    def __init__(self) -> None:
        self.pending: list[str] = []
        self._in_traceback = False  # inside the indented frames of a traceback
        self._after_traceback = False  # a traceback closed; a chained one may follow

    def feed(self, line: str) -> list[list[str]]:
        if self.pending and self._continues(line):
            self.pending.append(line)
            return []
        done = self.flush()
        if line.strip():
            self.pending = [line]
            self._in_traceback = line.startswith("Traceback (most recent call last)")
        return done

    def _continues(self, line: str) -> bool:
        if line.startswith("Traceback (most recent call last)"):
            self._in_traceback, self._after_traceback = True, False
            return True
        if line.startswith((" ", "\t")):
            return True
        if self._in_traceback and line.strip():
            # The first unindented line after the frames: "SomeError: what happened".
            self._in_traceback, self._after_traceback = False, True
            return True
        return self._after_traceback and (not line.strip() or line.startswith(_CHAINED))

    def flush(self) -> list[list[str]]:
        lines = self.pending
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        self.pending = []
        self._in_traceback = self._after_traceback = False
        return [lines] if lines else []


class Relay:
    """Writes every record to its process's file and to the stack's stdout, once each."""

    def __init__(self, run_dir: Path, out: TextIO = sys.stdout) -> None:
        self.run_dir = run_dir
        self.out = out
        self.terminal = out.isatty()
        self.colour = use_colour(out)
        self._files: dict[str, TextIO] = {}
        self._colours: dict[str, str] = {}
        self._lock = threading.Lock()  # the stack's own log lines may come from other threads
        run_dir.mkdir(parents=True, exist_ok=True)

    def file_for(self, name: str) -> TextIO:
        if name not in self._files:
            # A fresh file per run: `.run/<name>.log` is what this run's <name> said.
            self._files[name] = (self.run_dir / f"{name}.log").open("w", buffering=1)
            self._colours[name] = NAME_COLOURS[len(self._colours) % len(NAME_COLOURS)]
        return self._files[name]

    def line(self, name: str, line: str) -> None:
        """One line of JSON from a process (a non-JSON line goes through a TextGrouper)."""
        record = json_record(line)
        if record is None:
            self.record(name, text_record(name, [line]))
        else:
            self.record(name, record, raw=line)

    def record(self, name: str, record: dict[str, Any], raw: str | None = None) -> None:
        with self._lock:
            self.file_for(name).write((raw or json.dumps(record, default=str)) + "\n")
            if self.terminal:
                self.out.write(self._console(name, record) + "\n")
            else:
                self.out.write(json.dumps({**record, "process": name}, default=str) + "\n")
            self.out.flush()

    def _console(self, name: str, record: dict[str, Any]) -> str:
        banner = record.get("banner")
        shown = {k: v for k, v in record.items() if k != "banner"}
        prefix = f"{name:>9} |"
        if self.colour:
            prefix = f"\033[{self._colours[name]}m{prefix}\033[0m"
        lines = render_console(shown, colour=self.colour).split("\n")
        if isinstance(banner, list):
            # The few lines a person needs next (the stack is up: where, what to try).
            lines += ["", *(f"  {item}" for item in banner), ""]
        return "\n".join(f"{prefix} {text}".rstrip() for text in lines)

    def stream(self, name: str) -> LineStream:
        """A file-like object for this process's own loggers (structlog prints whole lines)."""
        return LineStream(self, name)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


class LineStream(io.StringIO):
    """Feeds complete lines to the relay; what configure_logging writes the stack's logs to.
    (A StringIO only to be a text stream to the loggers: nothing is kept in it.)"""

    def __init__(self, relay: Relay, name: str) -> None:
        super().__init__()
        self.relay = relay
        self.name = name
        self._partial = ""

    def write(self, text: str, /) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        for line in complete:
            if line.strip():
                self.relay.line(self.name, line)
        return len(text)

    def flush(self) -> None:
        """Lines go out as soon as they are complete; nothing is buffered to flush."""

    def isatty(self) -> bool:
        return False  # the relay decides the terminal rendering, so the loggers write JSON


def relay_lines(name: str, lines: Iterator[str], relay: Relay) -> None:
    """Synchronous form of the stack's pump, for a process's whole output at once."""
    grouper = TextGrouper()
    for raw in lines:
        emit_line(name, strip_ansi(raw.rstrip("\r\n")), grouper, relay)
    for group in grouper.flush():
        relay.record(name, text_record(name, group))


def emit_line(name: str, line: str, grouper: TextGrouper, relay: Relay) -> None:
    record = json_record(line)
    if record is not None:
        for group in grouper.flush():
            relay.record(name, text_record(name, group))
        relay.record(name, record, raw=line)
        return
    for group in grouper.feed(line):
        relay.record(name, text_record(name, group))
