"""`pip install ... 2>&1 | python dev/pip_progress.py --total N --log FILE`: a few lines of
progress for a long pip install instead of minutes of silence or hundreds of lines.

pip's whole output goes to FILE; the terminal gets a line when a phase starts and one per tenth
of the packages collected, each with the seconds since the start, and every line of an error in
full. Standard library only: it runs before the venv has anything in it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

COLLECTING = ("Collecting ", "Processing ", "Obtaining ")
# pip's noise about this machine's extra indexes, not worth a person's attention.
IGNORED = ("is ignored: it is neither",)
ERROR_START = ("ERROR", "error:", "×", "Traceback")


class Progress:
    def __init__(self, total: int, out: TextIO, started: float | None = None) -> None:
        self.total = max(total, 1)
        self.out = out
        self.started = time.monotonic() if started is None else started
        self.collected = 0
        self.reported = 0  # tenths already said
        self.in_error = False

    def say(self, text: str) -> None:
        self.out.write(f"    [{time.monotonic() - self.started:5.1f}s] {text}\n")
        self.out.flush()

    def feed(self, line: str) -> None:
        text = line.rstrip("\n")
        if any(marker in text for marker in IGNORED):
            return
        if self.in_error or text.startswith(ERROR_START):
            # An error is shown whole: it is what the person has to read.
            self.in_error = True
            self.out.write(text + "\n")
            return
        if text.startswith(COLLECTING):
            self.collected += 1
            tenth = self.collected * 10 // self.total
            if tenth > self.reported:
                self.reported = tenth
                name = package_name(text.split(" ", 2)[1])
                self.say(f"collected {min(self.collected, self.total)}/{self.total} ({name})")
        elif text.startswith("Installing collected packages"):
            self.say(f"installing {self.collected} packages into the venv")
        elif text.startswith("Successfully installed"):
            self.say("done")


def package_name(requirement: str) -> str:
    """`httpx==0.28.1`, or a wheel's path shortened to its name and version."""
    name = requirement.rsplit("/", 1)[-1]
    if name.endswith(".whl"):
        name = "==".join(name.split("-")[:2])
    return name


def count_requirements(path: Path) -> int:
    """Pinned requirements in a lock file (`name==version` lines)."""
    return sum(1 for line in path.read_text().splitlines() if "==" in line.split("#")[0])


def run(lines: Iterable[str], progress: Progress, log: TextIO) -> None:
    for line in lines:
        log.write(line)
        progress.feed(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lock", type=Path, required=True, help="the lock file being installed")
    parser.add_argument("--log", type=Path, required=True, help="where pip's full output goes")
    args = parser.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(count_requirements(args.lock), sys.stdout)
    with args.log.open("w") as log:
        run(sys.stdin, progress, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
