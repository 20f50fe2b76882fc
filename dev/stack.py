"""`make run`: the whole local stack in the foreground; Ctrl-C stops every process it started.

Order: PostgreSQL and the dev database with migrations, the demo data, then what
`dev/processes.d/*.toml` adds (provider sandboxes, the local chain and its set-up steps) and the
three services together, then the path router on :8000 that routes exactly as the load balancer
will. Processes start side by side; one marked `after_setup` (the ledger) waits for the set-up
steps whose KEY=VALUE output it needs. What the stack deployed goes to `.run/stack.env` once it
is up, for the commands run beside it (`make ledger-tick`, `make demo`).

Every line a process prints goes to `.run/<name>.log` as JSON and to the terminal readably
(dev/logs.py); the stack's own progress lines come out the same way, from the first second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import tomllib
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from betfuz_common.logging import configure_logging, get_logger
from betfuz_common.settings import CommonSettings
from dev import seed
from dev.logs import Relay, TextGrouper, emit_line, strip_ansi, text_record
from dev.state import PID_KEY, RUN_DIR, STATE_FILE, clear_state, write_state

REPO = Path(__file__).resolve().parents[1]
PROCESSES_D = Path(__file__).parent / "processes.d"
SERVICES = {"topup": 8001, "treasury": 8002, "ledger": 8003}
ROUTER_URL = "http://127.0.0.1:8000"
# The ledger's production tick stays 300 s (LedgerSettings); in the dev stack a settled big win
# should be on chain while the person who settled it is still looking.
DEV_LEDGER_INTERVAL_SECONDS = "5"
# A deposit made with `make deposit ... NOTIFY=0` is credited by reconciliation within this.
DEV_TREASURY_RECONCILE_INTERVAL_SECONDS = "15"
# What the stack records for other commands, besides the set-up steps' own KEY=VALUE lines.
SANDBOX_URLS = {
    "SELCOM_SANDBOX_URL": "http://127.0.0.1:9101",
    "WEMA_SANDBOX_URL": "http://127.0.0.1:9102",
    "VTPASS_SANDBOX_URL": "http://127.0.0.1:9103",
}
# Airtime to Selcom first (its sandbox's behaviours), VTpass after a provable refusal; data as
# VTpass's plans. TOPUP_ROUTES in the environment wins.
DEV_TOPUP_ROUTES = ";".join(
    f"{carrier}:airtime=selcom,vtpass;{carrier}:data=vtpass"
    for carrier in ("mtn", "airtel", "glo", "9mobile")
)
# Every port the stack listens on, and who: checked before anything starts.
PORTS = {
    8000: "router",
    **{port: name for name, port in SERVICES.items()},
    9101: "selcom",
    9102: "wema",
    9103: "vtpass",
    8545: "anvil",
}
FLUSH_TEXT_AFTER = 0.2  # seconds of quiet after which a pending plain-text record is complete

log = get_logger("stack")


@dataclass
class Proc:
    name: str
    module: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    health: str | None = None  # URL that answers 200 once the process is ready
    setup: bool = False  # runs to completion; its KEY=VALUE stdout lines feed `after_setup` ones
    after_setup: bool = False  # starts once every set-up step has finished


class StartFailed(RuntimeError):
    """A process did not come up; the message names it and where its output is."""


def _from_toml() -> list[Proc]:
    procs: list[Proc] = []
    for path in sorted(PROCESSES_D.glob("*.toml")):
        data: dict[str, Any] = tomllib.loads(path.read_text())
        for item in data.get("process", []):
            procs.append(Proc(**item))
    return procs


def core_processes(environ: dict[str, str]) -> list[Proc]:
    procs = [
        Proc(name, name, env={"PORT": str(port)}, health=f"http://127.0.0.1:{port}/health")
        for name, port in SERVICES.items()
    ]
    procs[0].env["TOPUP_ROUTES"] = environ.get("TOPUP_ROUTES", DEV_TOPUP_ROUTES)
    ledger = procs[-1]
    ledger.after_setup = True  # it needs the deploy step's LEDGER_CONTRACT_ADDRESS
    ledger.env["LEDGER_INTERVAL_SECONDS"] = environ.get(
        "LEDGER_INTERVAL_SECONDS", DEV_LEDGER_INTERVAL_SECONDS
    )
    treasury = next(proc for proc in procs if proc.name == "treasury")
    treasury.env["TREASURY_RECONCILE_INTERVAL_SECONDS"] = environ.get(
        "TREASURY_RECONCILE_INTERVAL_SECONDS", DEV_TREASURY_RECONCILE_INTERVAL_SECONDS
    )
    router_health = f"{ROUTER_URL}/topup/health"
    procs.append(Proc("router", "dev.router", env={"PORT": "8000"}, health=router_health))
    return procs


def busy_ports(ports: Iterable[int]) -> list[int]:
    """Ports something already listens on. With SO_REUSEADDR, as uvicorn binds, so a port
    that only holds closed connections (TIME_WAIT) is free."""
    busy = []
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.1f}s"


async def prepare_database(url: str, started: float) -> None:
    # Imported here: the services' packages take a second to import, and the first progress
    # line should not wait for them.
    from betfuz_common.db import migrate
    from betfuz_testing.postgres import admin_url, ensure_running, with_database
    from dev.platform import all_migrations

    try:
        ensure_running(admin_url())
    except SystemExit as exc:  # its message says what to do; a task must not exit the process
        raise StartFailed(str(exc.code)) from None
    log.info("PostgreSQL answers", elapsed=_since(started))
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
            log.info("database created", database=name)
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    applied: list[str] = []
    try:
        for schema, files in all_migrations():
            applied += await migrate(conn, schema, files)
    finally:
        await conn.close()
    log.info("database ready", database=name, new_migrations=len(applied), elapsed=_since(started))


async def seed_demo_data(url: str, started: float) -> None:
    """The demo data, or a warning saying why there is none: the stack is useful without it
    (another DATABASE_URL, a schema that changed under the seed), so it still starts."""
    try:
        # The chain starts empty on every run: the demo slips' ledger entries from the last
        # run point at transactions that are gone.
        report = await seed.seed(url, fresh_chain=True)
    except (seed.SeedRefused, asyncpg.PostgresError) as exc:
        log.warning("no demo data this run", reason=str(exc), retry="make seed")
        return
    lines = seed.describe(report, url)
    log.info("demo data ready", elapsed=_since(started), banner=[line.strip() for line in lines])


class Stack:
    def __init__(self, relay: Relay, database_url: str) -> None:
        self.relay = relay
        self.started = time.monotonic()
        self.children: list[tuple[str, asyncio.subprocess.Process]] = []
        self.pumps: list[asyncio.Task[None]] = []
        self.env: dict[str, str] = {
            **os.environ,
            "APP_ENV": "dev",
            "PYTHONUNBUFFERED": "1",
            # The relay reads every child's records and renders them for each destination.
            "LOG_FORMAT": "json",
            "DATABASE_URL": database_url,
        }
        self.env.setdefault("HOST", "127.0.0.1")
        self.recorded: dict[str, str] = {}  # what the set-up steps printed

    async def start(self, proc: Proc) -> None:
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
            limit=2**20,  # one JSON record (a traceback in it) can be long
        )
        self.children.append((proc.name, child))
        self.relay.file_for(proc.name)
        captured: list[str] = []
        pump = asyncio.create_task(self._pump(proc.name, child, captured))
        self.pumps.append(pump)
        if proc.setup:
            await pump
            if child.returncode != 0:
                raise StartFailed(f"set-up step {proc.name} failed: see .run/{proc.name}.log")
            for line in captured:
                key, sep, value = line.partition("=")
                if sep and key.isupper() and key.replace("_", "").isalnum():
                    self.env[key] = self.recorded[key] = value
            # (event texts put the name last: "selcom is up" reads as a credential to the log
            # redaction, which masks the word after "selcom", "bearer" or "basic")
            recorded = {key.lower(): value for key, value in self.recorded.items()}
            log.info(f"done: {proc.name}", elapsed=_since(self.started), **recorded)
        elif proc.health:
            await self._wait_healthy(proc, child)
            url = proc.health.rsplit("/", 1)[0]
            log.info(f"up: {proc.name}", url=url, elapsed=_since(self.started))

    async def _pump(
        self, name: str, child: asyncio.subprocess.Process, captured: list[str]
    ) -> None:
        assert child.stdout is not None
        grouper = TextGrouper()
        while True:
            try:
                if grouper.pending:
                    raw = await asyncio.wait_for(child.stdout.readline(), FLUSH_TEXT_AFTER)
                else:
                    raw = await child.stdout.readline()
            except TimeoutError:
                self._flush(name, grouper)
                continue
            if not raw:
                break
            line = strip_ansi(raw.decode(errors="replace").rstrip("\r\n"))
            captured.append(line)
            emit_line(name, line, grouper, self.relay)
        self._flush(name, grouper)
        await child.wait()

    def _flush(self, name: str, grouper: TextGrouper) -> None:
        for group in grouper.flush():
            self.relay.record(name, text_record(name, group))

    async def _wait_healthy(self, proc: Proc, child: asyncio.subprocess.Process) -> None:
        assert proc.health
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if child.returncode is not None:
                    raise StartFailed(
                        f"{proc.name} exited with {child.returncode} while starting: "
                        f"see .run/{proc.name}.log"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(proc.health, timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise StartFailed(f"{proc.name} did not become healthy at {proc.health} within 60 s")

    async def start_all(self, procs: list[Proc]) -> None:
        """Everything at once, except what waits for the set-up steps; the first failure stops
        the rest."""
        first = {p.name: asyncio.create_task(self.start(p)) for p in procs if not p.after_setup}
        setups = [first[p.name] for p in procs if p.setup and not p.after_setup]

        async def after_setup() -> None:
            await asyncio.gather(*setups)
            await asyncio.gather(*(self.start(p) for p in procs if p.after_setup))

        tasks = [*first.values(), asyncio.create_task(after_setup())]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

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
        await asyncio.gather(*self.pumps, return_exceptions=True)

    def state(self) -> dict[str, str]:
        return {
            PID_KEY: str(os.getpid()),
            "STACK_URL": ROUTER_URL,
            "DATABASE_URL": self.env["DATABASE_URL"],
            "POLYGON_RPC_URL": self.env.get("POLYGON_RPC_URL", "http://127.0.0.1:8545"),
            **self.recorded,
            "LEDGER_INTERVAL_SECONDS": self.env.get(
                "LEDGER_INTERVAL_SECONDS", DEV_LEDGER_INTERVAL_SECONDS
            ),
            **SANDBOX_URLS,
        }


def banner(elapsed: str, interval: str) -> list[str]:
    users = ", ".join(f"{u.id} ({seed.naira(u.balance)})" for u in seed.USERS)
    return [
        f"Betfuz local stack is up in {elapsed}: {ROUTER_URL}  (/topup  /treasury  /ledger)",
        f"Demo wallets: {users}.",
        f"Demo big win {seed.BIG_WIN_SLIP} goes on chain within seconds (dev ledger tick: "
        f"{interval} s; 300 s in production).",
        "Try it:  TOKEN=$(make -s token USER=demo-ada)  and the README's curl commands,"
        "  or  make demo",
        f"Logs: .run/<name>.log (JSON lines). What it deployed: .run/{STATE_FILE.name}. "
        "Ctrl-C stops everything.",
    ]


async def _first(*awaitables: Awaitable[Any]) -> None:
    """Wait until the first of these finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # a failure to start surfaces here


def _exits(children: Iterable[tuple[str, asyncio.subprocess.Process]]) -> list[Awaitable[Any]]:
    async def exit_of(name: str, child: asyncio.subprocess.Process) -> None:
        code = await child.wait()
        log.error(f"exited: {name}", code=code, output=f".run/{name}.log")

    return [exit_of(name, child) for name, child in children if child.returncode is None]


async def main() -> int:
    relay = Relay(RUN_DIR)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), stream=relay.stream("stack"), fmt="json")
    database_url = os.environ.get("DATABASE_URL") or CommonSettings.DEV_DEFAULTS["DATABASE_URL"]
    stack = Stack(relay, database_url)
    log.info("starting the local stack", logs=".run/<name>.log", pid=os.getpid())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    busy = busy_ports(PORTS)
    if busy:
        # Otherwise a health check could be answered by whatever holds the port, not ours.
        taken = ", ".join(f"{port} ({PORTS[port]})" for port in busy)
        log.error(
            "ports already in use: " + taken,
            hint="another `make run` (in another terminal or worktree)? Stop it first; "
            "`ss -ltnp` shows who listens",
        )
        relay.close()
        return 1
    code = 0
    try:
        await _first(stop.wait(), _boot(stack, database_url))
        if not stop.is_set():
            state = stack.state()
            write_state(state)
            elapsed = _since(stack.started)
            lines = banner(elapsed, state["LEDGER_INTERVAL_SECONDS"])
            log.info("stack is up", url=ROUTER_URL, elapsed=elapsed, banner=lines)
            await _first(stop.wait(), *_exits(stack.children))
            code = 0 if stop.is_set() else 1
    except (StartFailed, OSError, asyncpg.PostgresError) as exc:
        log.error("the local stack did not start", reason=str(exc))
        code = 1
    finally:
        log.info("stopping the local stack")
        clear_state(pid=os.getpid())
        await stack.stop_all()
        log.info("stopped", elapsed=_since(stack.started))
        relay.close()
    return code


async def _boot(stack: Stack, database_url: str) -> None:
    await prepare_database(database_url, stack.started)
    await seed_demo_data(database_url, stack.started)
    await stack.start_all([*_from_toml(), *core_processes(dict(os.environ))])


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
