"""`make run`: the whole local stack in the foreground; Ctrl-C stops every process it started.

Order: PostgreSQL and the dev database with migrations, then what `dev/processes.d/*.toml` adds
(provider sandboxes, the local chain and its set-up steps), then the three services, then the
path router on :8000 that routes exactly as the load balancer will.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from betfuz_common.db import migrate
from betfuz_common.settings import CommonSettings
from betfuz_testing.postgres import admin_url, ensure_running, with_database
from dev.platform import all_migrations

REPO = Path(__file__).resolve().parents[1]
PROCESSES_D = Path(__file__).parent / "processes.d"
COLOURS = ["36", "35", "33", "32", "34", "31", "96", "95"]
SERVICES = {"topup": 8001, "treasury": 8002, "ledger": 8003}


@dataclass
class Proc:
    name: str
    module: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    health: str | None = None  # URL that answers 200 once the process is ready
    setup: bool = False  # runs to completion; its KEY=VALUE stdout lines feed later processes


def _from_toml() -> list[Proc]:
    procs: list[Proc] = []
    for path in sorted(PROCESSES_D.glob("*.toml")):
        data: dict[str, Any] = tomllib.loads(path.read_text())
        for item in data.get("process", []):
            procs.append(Proc(**item))
    return procs


async def prepare_database(url: str) -> None:
    ensure_running(admin_url())
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        for schema, files in all_migrations():
            await migrate(conn, schema, files)
    finally:
        await conn.close()


class Stack:
    def __init__(self) -> None:
        self.children: list[tuple[str, asyncio.subprocess.Process]] = []
        self.env: dict[str, str] = {**os.environ, "APP_ENV": "dev", "PYTHONUNBUFFERED": "1"}
        self.env.setdefault("HOST", "127.0.0.1")

    async def start(self, proc: Proc, colour: str) -> str:
        env = {**self.env, **proc.env}
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            proc.module,
            *proc.args,
            env=env,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own group, so stopping it stops its children too
        )
        self.children.append((proc.name, child))
        captured: list[str] = []
        pump = asyncio.create_task(self._pump(proc.name, colour, child, captured))
        if proc.setup:
            await pump
            if child.returncode != 0:
                raise RuntimeError(f"set-up step {proc.name} failed")
            for line in captured:
                key, sep, value = line.partition("=")
                if sep and key.isupper():
                    self.env[key] = value
        elif proc.health:
            await self._wait_healthy(proc, child)
        return proc.name

    async def _pump(
        self, name: str, colour: str, child: asyncio.subprocess.Process, captured: list[str]
    ) -> None:
        assert child.stdout is not None
        async for raw in child.stdout:
            line = raw.decode(errors="replace").rstrip()
            captured.append(line)
            print(f"\033[{colour}m{name:>9} |\033[0m {line}", flush=True)
        await child.wait()

    async def _wait_healthy(self, proc: Proc, child: asyncio.subprocess.Process) -> None:
        assert proc.health
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                if child.returncode is not None:
                    raise RuntimeError(f"{proc.name} exited with {child.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(proc.health, timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not become healthy at {proc.health}")

    async def stop_all(self) -> None:
        for _, child in reversed(self.children):
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        for _, child in self.children:
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                await child.wait()


def core_processes() -> list[Proc]:
    procs = [
        Proc(name, name, env={"PORT": str(port)}, health=f"http://127.0.0.1:{port}/health")
        for name, port in SERVICES.items()
    ]
    procs.append(
        Proc(
            "router",
            "dev.router",
            env={"PORT": "8000"},
            health="http://127.0.0.1:8000/topup/health",
        )
    )
    return procs


async def main() -> None:
    database_url = os.environ.get("DATABASE_URL") or CommonSettings.DEV_DEFAULTS["DATABASE_URL"]
    await prepare_database(database_url)
    stack = Stack()
    stack.env["DATABASE_URL"] = database_url
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for index, proc in enumerate([*_from_toml(), *core_processes()]):
            if stop.is_set():
                break
            await stack.start(proc, COLOURS[index % len(COLOURS)])
        if not stop.is_set():
            print(
                "\n  Betfuz local stack is up: http://127.0.0.1:8000 "
                "(/topup, /treasury, /ledger). Ctrl-C stops it.\n",
                flush=True,
            )
        exited = [
            asyncio.create_task(child.wait()) for _, child in stack.children if not _is_setup(child)
        ]
        watch = asyncio.create_task(stop.wait())
        await asyncio.wait([watch, *exited], return_when=asyncio.FIRST_COMPLETED)
    finally:
        print("\n  stopping the local stack…", flush=True)
        await stack.stop_all()


def _is_setup(child: asyncio.subprocess.Process) -> bool:
    return child.returncode is not None


if __name__ == "__main__":
    asyncio.run(main())
