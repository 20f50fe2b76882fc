"""A PostgreSQL server of the test's own, which the test may stop and start at will.

Fault tests restart the database under live services; the machine's shared server (:5432) is
every other suite's, so they get a cluster of their own: `initdb` into a temporary directory,
served on a free port of 127.0.0.1, stopped and started with `pg_ctl` in the mode the test picks
("fast": sessions are told and closed; "immediate": the server dies as on a crash and recovers
from its WAL on the next start). Durability settings are relaxed (`fsync=off`): that only
matters when the machine itself crashes, which these tests never do.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

from betfuz_testing.processes import free_port

StopMode = Literal["smart", "fast", "immediate"]
# The Debian packages' binaries; PG_BIN names another installation.
_DEFAULT_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# initdb and postgres refuse to run as root; as root we run them as this account.
_SERVER_ACCOUNT = "postgres"


def server_binaries() -> Path | None:
    explicit = os.environ.get("PG_BIN")
    if explicit:
        return Path(explicit)
    found = sorted(glob.glob(_DEFAULT_BIN_GLOB), key=lambda p: int(Path(p).parent.name))
    return Path(found[-1]) if found else None


def available() -> bool:
    """Whether this machine can run a private server (the tests skip otherwise)."""
    binaries = server_binaries()
    if binaries is None or not (binaries / "initdb").exists():
        return False
    return os.geteuid() != 0 or shutil.which("runuser") is not None


class PrivatePostgres:
    def __init__(self, root: Path, binaries: Path, port: int) -> None:
        self.root, self.binaries, self.port = root, binaries, port
        self.data = root / "data"
        self.log = root / "server.log"
        self.starts = 0
        self.stops = 0
        self.restarts = 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", _SERVER_ACCOUNT, "--"] if os.geteuid() == 0 else []
        subprocess.run(  # noqa: S603 - fixed binaries, arguments of our own
            [*prefix, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def init(self) -> None:
        self._run(
            str(self.binaries / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
                "-c shared_buffers=64MB",
            ]
        )
        self._run(
            str(self.binaries / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "--options",
            options,
            "--wait",
            "--timeout",
            "60",
            "start",
        )
        self.starts += 1

    def stop(self, mode: StopMode = "fast") -> None:
        self._run(
            str(self.binaries / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--mode",
            mode,
            "--wait",
            "--timeout",
            "60",
            "stop",
        )
        self.stops += 1

    def restart(self, mode: StopMode = "immediate") -> None:
        """Down (immediate: a crash, no checkpoint) and up again on the same port."""
        self.stop(mode)
        self.start()
        self.restarts += 1

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh cluster, started; stopped (immediately) and deleted afterwards."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError("no PostgreSQL binaries found (set PG_BIN)")
    # Not pytest's tmp_path: the server account must be able to reach the directory.
    root = Path(tempfile.mkdtemp(prefix="betfuz-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, _SERVER_ACCOUNT)
    server = PrivatePostgres(root, binaries, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            with suppress(subprocess.CalledProcessError):
                server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
