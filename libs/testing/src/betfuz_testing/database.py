"""A freshly created database per test run, never the dev data; testcontainers where Docker runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit

import asyncpg

from betfuz_common.db import Migration, migrate
from betfuz_testing.postgres import DEFAULT_ADMIN_URL, ensure_running, with_database


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, check=False)  # noqa: S607
    return result.returncode == 0


@contextmanager
def admin_server() -> Iterator[str]:
    """URL of a server we may create databases on."""
    explicit = os.environ.get("ADMIN_DATABASE_URL")
    if explicit or not _docker_available():
        url = explicit or DEFAULT_ADMIN_URL
        ensure_running(url)
        yield url
        return
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as container:
        yield container.get_connection_url()


async def create_database(
    admin_url: str,
    migrations: Sequence[tuple[str, Sequence[Migration]]],
    prefix: str = "betfuz_test",
) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(admin_url, name)
    conn = await asyncpg.connect(url)
    try:
        for schema, files in migrations:
            await migrate(conn, schema, files)
    finally:
        await conn.close()
    return url


async def drop_database(admin_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
