"""Make sure a PostgreSQL server answers; start the local cluster when it is installed and down."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """A URL for creating databases: ADMIN_DATABASE_URL, else the local server's `postgres`."""
    return os.environ.get("ADMIN_DATABASE_URL", DEFAULT_ADMIN_URL)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1):
            return True
    except OSError:
        return False


def _start_local_cluster() -> bool:
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if not versions or shutil.which("pg_ctlcluster") is None:
        return False
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]
    subprocess.run(cmd, check=False)  # noqa: S603 - fixed command, no user input
    return True


def ensure_running(url: str | None = None, timeout: float = 30) -> None:
    url = url or admin_url()
    if _answers(url):
        return
    if not _start_local_cluster():
        sys.exit(
            "PostgreSQL does not answer at "
            f"{urlsplit(url).hostname}:{urlsplit(url).port or 5432} and no local cluster is "
            "installed. Start one, or set ADMIN_DATABASE_URL / DATABASE_URL to a server you have."
        )
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if time.monotonic() > deadline:
            sys.exit("PostgreSQL was started but does not answer; see /var/log/postgresql/")
        time.sleep(0.3)
