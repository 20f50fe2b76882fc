"""A PostgreSQL server of the test's own, which the test may crash and restart at will.

The shared server at 127.0.0.1:5432 serves every engineer on the machine, so no test may stop
it. This one is `initdb` in a temporary directory, on a free port, trust auth on 127.0.0.1,
started with `pg_ctl` from the PostgreSQL binaries (`$PG_BIN`, else the newest
`/usr/lib/postgresql/*/bin`). `restart(mode="immediate")` is a crash as far as the clients and
the server are concerned: no checkpoint, every connection cut, WAL recovery on the way up.

PostgreSQL refuses to run as root; under root the server runs as the `postgres` OS user, which
owns the data directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from betfuz_testing.processes import free_port


def pg_bin() -> Path:
    explicit = os.environ.get("PG_BIN")
    if explicit:
        return Path(explicit)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if found:
        return Path(found[-1])
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise FileNotFoundError("no PostgreSQL binaries: set PG_BIN to the folder holding pg_ctl")


class PrivatePostgres:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.port = port or free_port()
        self.bin = pg_bin()
        self._as_postgres = os.geteuid() == 0
        self.restarts = 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(  # noqa: S603 - the PostgreSQL binaries, arguments of our own
            command, check=check, capture_output=True, text=True, timeout=120
        )

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c max_connections=200 -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "immediate") -> None:
        """Down (immediate: a crash, no checkpoint) and up again on the same port."""
        self.stop(mode)
        self.start()
        self.restarts += 1


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh server, running until the block ends, then stopped and its directory removed."""
    with tempfile.TemporaryDirectory(prefix="betfuz-pg-") as folder:
        server = PrivatePostgres(Path(folder))
        server.init()
        server.start()
        try:
            yield server
        finally:
            server.stop("immediate")
