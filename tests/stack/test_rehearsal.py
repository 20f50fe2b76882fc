"""A blue/green rehearsal on the local stack, both outcomes, while a request loop runs through
the production listener (:8000) across every switch and loses nothing.

SUCCEEDED: the smoke gate passes green, production moves to it and blue stops after the bake
time. FAILED (BREAK=1, a green whose readiness is broken): the gate fails it, green stops, and
production never left blue: the loop's /topup/ready would have seen green's 503.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
FIGURES = REPO / ".run" / "rehearsal" / "figures.json"
# Every request through the production listener, and the answer it must get.
EXPECTED = {"/topup/health": 200, "/topup/ready": 200, "/topup/openapi.json": 200, "/topup": 401}
LOOP_LIMIT_SECONDS = 240


@dataclass
class RequestLoop:
    """Requests through :8000 one after another on one keep-alive connection per thread."""

    threads: int = 2
    sent: int = 0
    lost: list[str] = field(default_factory=list)
    first_at: float = 0.0
    last_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.first_at = time.time()
        self._workers = [threading.Thread(target=self._run) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def _run(self) -> None:
        deadline = time.monotonic() + LOOP_LIMIT_SECONDS
        with httpx.Client(base_url="http://127.0.0.1:8000", timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                for path, status in EXPECTED.items():
                    try:
                        got: int | str = client.get(path).status_code
                    except httpx.HTTPError as exc:
                        got = type(exc).__name__
                    with self._lock:
                        self.sent += 1
                        self.last_at = time.time()
                        if got != status:
                            self.lost.append(f"{path}: {got}")
                time.sleep(0.01)


def rehearse(*flags: str) -> tuple[int, list[dict[str, Any]]]:
    command = [sys.executable, "-m", "dev.rehearse", "topup", "--bake", "3", "--drain", "1.5"]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [*command, *flags], cwd=REPO, capture_output=True, text=True, timeout=180, check=False
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert events, done.stderr
    return done.returncode, events


def at(events: list[dict[str, Any]], **match: Any) -> float:
    [found] = [e for e in events if all(e.get(k) == v for k, v in match.items())][:1]
    return float(found["at"])


def record(outcome: str, loop: RequestLoop) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    figures[outcome] = {
        "sent": loop.sent,
        "lost": len(loop.lost),
        "seconds": round(loop.last_at - loop.first_at, 1),
    }
    FIGURES.write_text(json.dumps(figures, indent=2))


def test_a_green_that_passes_smoke_takes_production_and_blue_stops_without_a_lost_request() -> None:
    loop = RequestLoop()
    loop.start()
    try:
        code, events = rehearse()
    finally:
        loop.stop()
    record("SUCCEEDED", loop)
    outcome = events[-1]
    assert outcome["event"] == "outcome"
    assert code == 0, events
    assert outcome["hookStatus"] == "SUCCEEDED"
    assert outcome["smoke"]["failedAssertions"] == 0
    assert outcome["blueExitCode"] in (0, -signal.SIGTERM)
    switched = at(events, event="rule", listener="production", target="green")
    blue_stopped = at(events, event="stopped", colour="blue")
    assert at(events, event="hook", hookStatus="SUCCEEDED") < switched < blue_stopped
    assert loop.first_at < switched
    assert loop.last_at > blue_stopped
    assert loop.sent > 100
    assert loop.lost == []


def test_a_green_that_fails_smoke_never_takes_production_and_blue_never_stops_serving() -> None:
    loop = RequestLoop()
    loop.start()
    try:
        code, events = rehearse("--break")
    finally:
        loop.stop()
    record("FAILED", loop)
    outcome = events[-1]
    assert code == 0, events
    assert outcome["hookStatus"] == "FAILED"
    assert outcome["smoke"]["failedAssertions"] > 0
    assert outcome["blueRunning"] is True
    assert not [
        e for e in events if e.get("listener") == "production" and e.get("target") == "green"
    ]
    green_stopped = at(events, event="stopped", colour="green")
    assert at(events, event="hook", hookStatus="FAILED") < green_stopped
    assert loop.first_at < green_stopped < loop.last_at
    assert loop.sent > 100
    assert loop.lost == []


@pytest.fixture(autouse=True)
def _stack_is_up() -> None:
    assert httpx.get("http://127.0.0.1:8000/health", timeout=2).status_code == 200
