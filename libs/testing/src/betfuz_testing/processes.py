"""Run a real service or sandbox process on a free port for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early with {process.returncode}: {url}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no healthy answer from {url} within {timeout}s")


@contextmanager
def running(
    module: str,
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str],
    health_path: str = "/health",
    port: int | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Start `python -m module`, yield its base URL once healthy, SIGTERM it afterwards."""
    port = port or free_port()
    # The child runs the same interpreter, so it imports the same installed projects.
    full_env = {
        **os.environ,
        **env,
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }
    sink = log_path.open("ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module, *args], env=full_env, stdout=sink, stderr=sink
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base + health_path, process)
        yield base
    finally:
        stop(process)
        if log_path and sink is not subprocess.DEVNULL:
            sink.close()  # type: ignore[union-attr]


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
