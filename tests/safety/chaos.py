"""The whole stack as real processes the chaos test can SIGKILL and start again.

Every process has a fixed free port for the whole test (a restarted process comes back where
its peers expect it): anvil, the Selcom and Wema sandboxes, topup, treasury, ledger, and a
private PostgreSQL (betfuz_testing.private_postgres) the test may crash. What survives a kill
is what survives in production (docs/RELIABILITY.md, "Whole-stack chaos"):

- PostgreSQL: everything committed (an immediate shutdown is a crash; WAL recovery on start).
- Wema sandbox: its accounts and deposits (`WEMA_SANDBOX_STATE_PATH`): a bank never forgets a
  transfer it made, and its listing is what reconciliation reads.
- anvil: its chain. A real node keeps its blocks on disk; anvil keeps them in memory, so just
  before the SIGKILL the chaos loop has anvil dump its state (`anvil_dumpState`) and starts it
  again with `--load-state`. The kill itself is a SIGKILL: every RPC in flight is cut.
- Selcom sandbox: nothing. A restarted sandbox has forgotten every order, which is harsher than
  Selcom: a pending topup it is asked about is "not found", and the topup service re-submits it
  under the same transid (its outcome is the number's, so the final word does not change).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from betfuz_testing.anvil import find_anvil_binary
from betfuz_testing.processes import free_port, stop, wait_until_healthy


@dataclass
class Proc:
    """`python -m module` (or a binary) on a fixed port; killed with SIGKILL, started again."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    health_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    starts: int = 0

    def start(self) -> None:
        with self.log_path.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter or anvil
                self.command, env={**os.environ, **self.env}, stdout=sink, stderr=sink
            )
        self.starts += 1
        wait_until_healthy(self.health_url, self.process, timeout=60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.kills += 1

    def discard(self) -> None:
        """A start that never became healthy: end it, without counting it as chaos."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def python_proc(
    name: str, module: str, env: dict[str, str], port: int, health: str, logs: Path
) -> Proc:
    return Proc(
        name,
        [sys.executable, "-m", module],
        {**env, "PORT": str(port), "HOST": "127.0.0.1"},
        port,
        f"http://127.0.0.1:{port}{health}",
        logs / f"{name}.log",
    )


def rpc(url: str, method: str, params: list[object]) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(  # noqa: S310 - a loopback URL of our own
        url, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - same
        return json.load(response)["result"]


@dataclass
class AnvilProc(Proc):
    state_path: Path = field(default=Path("anvil-state.json"))

    @classmethod
    def make(cls, logs: Path) -> AnvilProc:
        port = free_port()
        state = logs / "anvil-state.json"
        return cls(
            "anvil",
            [str(find_anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--silent"],
            {},
            port,
            f"http://127.0.0.1:{port}",
            logs / "anvil.log",
            state_path=state,
        )

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        base = self.command[:6]
        self.command = (
            [*base, "--load-state", str(self.state_path)] if self.state_path.exists() else base
        )
        with self.log_path.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - the anvil binary
                self.command, stdout=sink, stderr=sink
            )
        self.starts += 1
        deadline = time.monotonic() + 60
        while True:
            try:
                rpc(self.rpc_url, "eth_chainId", [])
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"anvil did not come back: {self.log_path}") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """Save the chain as a node's disk would hold it, then SIGKILL."""
        if self.alive():
            dumped = rpc(self.rpc_url, "anvil_dumpState", [])
            assert isinstance(dumped, str)
            raw = bytes.fromhex(dumped.removeprefix("0x"))
            text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            scratch = self.state_path.with_name("anvil-state.tmp")
            scratch.write_bytes(text)
            os.replace(scratch, self.state_path)
        super().kill()
