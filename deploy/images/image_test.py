"""`make images` / `make image-test`: build the release images here and boot them as ECS would.

Builds the three service images and the smoke runner with podman, from the pinned base or (where
no registry is reachable) the locally made stand-in. With --boot, each service image then runs
exactly as its task definition says: the Environment and Secrets that deploy/ecs/service.yaml
renders (deploy/ecs/render.py), strong random secrets in place of Secrets Manager, APP_ENV=prod,
a read-only root with a tmpfs /tmp, every capability dropped, no new privileges, the image's
non-root user, tini as PID 1 (InitProcessEnabled). For each service it

1. runs the migration task's command (`migrate`) on a fresh database and needs exit code 0,
2. starts the service, waits for `/<service>/health` and `/<service>/ready`, then for the image's
   HEALTHCHECK (`podman healthcheck run`: no systemd timer runs it here),
3. checks the user, the read-only root and the dropped capabilities from inside,
4. runs the smoke runner image against it (the Postman collection, tokens minted from the smoke
   key): every request must run and every check that needs no token must pass,
5. sends SIGTERM as ECS does and needs a clean exit (code 0) well inside the 30 s StopTimeout.

The ledger records on a local anvil chain: its key is random (prod refuses anvil's published
one), funded through anvil, and `deploy` runs from the ledger image itself, as at bootstrap.
Prints image sizes and seconds; exits non-zero on the first failure. Containers use the host's
network (PostgreSQL listens on 127.0.0.1 only), so the services bind the task definition's port
8080 on this host: run it under the stack lock where other people share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from deploy.ecs.render import fake_secrets, load_template, render_container

REPO = Path(__file__).resolve().parents[2]

SERVICES = ("topup", "treasury", "ledger")
LOCAL_BASE = "localhost/bookworm-python:3.11-local"
ADMIN_URL = os.environ.get("IMAGE_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PORT = 8080  # the task definition's container port
# VTpass first for airtime with Selcom behind it, VTpass alone for data plans.
ROUTES = ";".join(
    f"{carrier}:{kind}=vtpass,selcom" if kind == "airtime" else f"{carrier}:{kind}=vtpass"
    for carrier in ("mtn", "airtel", "glo", "9mobile")
    for kind in ("airtime", "data")
)
UTILITY_CODES = (
    "mtn:airtime=MTNTOP,mtn:data=MTNDATA,airtel:airtime=AIRTELTOP,airtel:data=AIRTELDATA,"
    "glo:airtime=GLOTOP,glo:data=GLODATA,9mobile:airtime=ETITOP,9mobile:data=ETIDATA"
)
# As ECS runs the task: InitProcessEnabled, Capabilities.Drop ALL, ReadonlyRootFilesystem, the
# task's ephemeral /tmp; no-new-privileges is what Fargate enforces for every task.
HARDENED = [
    "--network=host",
    "--init",
    "--read-only",
    "--tmpfs=/tmp:rw,size=64m",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
]


class ImageTestError(RuntimeError):
    pass


@dataclass
class Report:
    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    def note(self, image: str, key: str, value: str) -> None:
        self.rows.setdefault(image, {})[key] = value
        print(f"  {image:<9} {key:<14} {value}", flush=True)

    def table(self) -> str:
        keys = ["size", "build", "migrate", "healthy", "smoke", "drain"]
        lines = ["image     " + "".join(f"{k:>19}" for k in keys)]
        for image, row in self.rows.items():
            lines.append(f"{image:<10}" + "".join(f"{row.get(k, '-'):>19}" for k in keys))
        if any("pending" in row.get("smoke", "") for row in self.rows.values()):
            lines.append(
                "pending: smoke checks that need a token the services do not verify yet "
                "(the smoke identity, SMOKE_JWT_SECRET); every other check passed"
            )
        return "\n".join(lines)


def podman(
    *args: str, check: bool = True, capture: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - podman with arguments we build
        ["podman", *args],  # noqa: S607 - podman from PATH, as make installs it
        text=True,
        capture_output=capture,
        check=False,
    )
    if check and result.returncode != 0:
        raise ImageTestError(f"podman {' '.join(args[:3])} failed:\n{result.stdout}{result.stderr}")
    return result


def image_name(image: str, tag: str) -> str:
    return f"localhost/betfuz-{image}:{tag}"


def build(image: str, tag: str, base: str, report: Report) -> None:
    dockerfile = "smoke.Dockerfile" if image == "smoke" else "service.Dockerfile"
    args = ["build", "--format", "docker", "--network", "host", "--layers"]
    args += ["--pull=never"] if base.startswith("localhost/") else []
    args += ["--build-arg", f"PYTHON_IMAGE={base}"]
    args += [] if image == "smoke" else ["--build-arg", f"SERVICE={image}"]
    args += ["-f", str(REPO / "deploy" / "images" / dockerfile), "-t", image_name(image, tag)]
    started = time.monotonic()
    podman(*args, str(REPO))
    report.note(image, "build", f"{time.monotonic() - started:.1f} s")
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image_name(image, tag)).stdout)
    report.note(image, "size", f"{size / 1e6:.0f} MB")
    healthcheck = podman(
        "image", "inspect", "--format", "{{json .Config.Healthcheck}}", image_name(image, tag)
    )
    if image != "smoke" and "health" not in healthcheck.stdout:
        raise ImageTestError(
            f"{image}: the image lost its HEALTHCHECK (build with --format docker)"
        )


# ------------------------------------------------------------------ the database and the chain
async def create_database(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    # The core platform's tables exist before any payment service migrates, as in production.
    from betfuz_common.db import migrate
    from betfuz_testing.platform import PLATFORM_SCHEMA, platform_migrations

    conn = await asyncpg.connect(url)
    try:
        await migrate(conn, PLATFORM_SCHEMA, platform_migrations())
    finally:
        await conn.close()
    return url


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def local_chain() -> Iterator[str]:
    """anvil on a free port (never the stack's 8545), stopped on exit."""
    from betfuz_testing.processes import free_port

    port = free_port()
    anvil = REPO / "node_modules" / ".bin" / "anvil"
    process = subprocess.Popen(  # noqa: S603 - the locked npm binary
        [str(anvil), "--host", "127.0.0.1", "--port", str(port), "--silent", "--block-time", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: rpc(url, "eth_chainId", []), 30, "anvil did not start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def rpc(url: str, method: str, params: list[object]) -> bool:
    """True when the node answered the call without an error (some answer a null result)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"})  # noqa: S310 - local URL we built
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:  # noqa: S310
            return "result" in json.loads(answer.read())
    except (OSError, ValueError):
        return False


def fund(url: str, private_key: str) -> None:
    from eth_account import Account

    address = Account.from_key(private_key).address
    if not rpc(url, "anvil_setBalance", [address, hex(10**21)]):
        raise ImageTestError("anvil refused to fund the ledger's key")


# ------------------------------------------------------------------ one service, as ECS runs it
def wait_for(ready: object, seconds: float, message: str) -> float:
    assert callable(ready)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if ready():
            return time.monotonic() - started
        time.sleep(0.2)
    raise ImageTestError(message)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - 127.0.0.1 only
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def env_file(directory: Path, name: str, values: Mapping[str, str]) -> Path:
    path = directory / f"{name}.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        for key, value in values.items():
            if "\n" in value:
                raise ImageTestError(f"{key}: an env-file value cannot hold a newline")
            handle.write(f"{key}={value}\n")
    return path


def task_environment(
    service: str, resource: str, secret_values: Mapping[str, str], parameters: Mapping[str, str]
) -> tuple[dict[str, str], list[str] | None]:
    container = render_container(load_template(), resource, parameters)
    missing = set(container.secrets) - set(secret_values)
    if missing:
        raise ImageTestError(f"{service}: no fake value for secrets {sorted(missing)}")
    return {
        **container.environment,
        **{k: secret_values[k] for k in container.secrets},
    }, container.command


def logs(name: str) -> str:
    result = podman("logs", name, check=False)
    return (result.stdout + result.stderr)[-4000:]


def run_service(
    service: str, tag: str, workdir: Path, database_url: str, chain_url: str, report: Report
) -> None:
    image = image_name(service, tag)
    names_all = set(
        render_container(load_template(), "TaskDefinition", parameters(service, "")).secrets
    )
    secret_values = fake_secrets(names_all, database_url)
    if service == "ledger":
        secret_values["POLYGON_RPC_URL"] = chain_url
        fund(chain_url, secret_values["LEDGER_PRIVATE_KEY"])

    # 1. The migration task, then (ledger) the contract, as the bootstrap deploys it.
    env, command = task_environment(
        service, "MigrationTaskDefinition", secret_values, parameters(service, "")
    )
    path = env_file(workdir, f"{service}-migrate", env)
    started = time.monotonic()
    migrated = podman(
        "run", "--rm", *HARDENED, f"--env-file={path}", image, *(command or []), check=False
    )
    if migrated.returncode != 0:
        raise ImageTestError(
            f"{service} migrate exited {migrated.returncode}:\n{migrated.stderr[-3000:]}"
        )
    report.note(service, "migrate", f"{time.monotonic() - started:.1f} s")
    address = ""
    if service == "ledger":
        deployed = podman(
            "run", "--rm", *HARDENED, f"--env-file={path}", image, "deploy", "--wait", "30"
        )
        address = next(
            line.split("=", 1)[1]
            for line in deployed.stdout.splitlines()
            if line.startswith("LEDGER_CONTRACT_ADDRESS=")
        )
        report.note(service, "contract", address)

    # 2. The service itself.
    env, _ = task_environment(
        service, "TaskDefinition", secret_values, parameters(service, address)
    )
    path = env_file(workdir, service, env)
    name = f"betfuz-image-test-{service}-{secrets.token_hex(3)}"
    started = time.monotonic()
    podman("run", "-d", "--name", name, *HARDENED, f"--env-file={path}", image)
    try:
        base = f"http://127.0.0.1:{PORT}/{service}"
        try:
            wait_for(
                lambda: http_status(f"{base}/health") == 200,
                60,
                f"{service}: /health never answered 200",
            )
            wait_for(
                lambda: http_status(f"{base}/ready") == 200,
                30,
                f"{service}: /ready never answered 200",
            )
            wait_for(
                lambda: podman("healthcheck", "run", name, check=False).returncode == 0,
                30,
                f"{service}: the image's HEALTHCHECK never passed",
            )
        except ImageTestError as exc:
            raise ImageTestError(f"{exc}\n{logs(name)}") from None
        report.note(service, "healthy", f"{time.monotonic() - started:.1f} s")
        check_hardening(service, name)
        smoke(service, tag, workdir, secret_values["SMOKE_JWT_SECRET"], report)
        drain(service, name, report)
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def parameters(service: str, contract: str) -> dict[str, str]:
    """The stack parameters a real deployment passes; providers point at a closed local port."""
    given = {
        "Service": service,
        "ImageTag": "image-test",
        "JwtIssuer": "https://image-test.invalid/auth/v1",
    }
    if service == "topup":
        given |= {
            "SelcomBaseUrl": "http://127.0.0.1:9",
            "SelcomVendor": "BETFUZTEST",
            "SelcomUtilityCodes": UTILITY_CODES,
            "VtpassBaseUrl": "http://127.0.0.1:9",
            "TopupRoutes": ROUTES,
        }
    if service == "treasury":
        given |= {"WemaBaseUrl": "http://127.0.0.1:9"}
    if service == "ledger":
        given |= {
            "LedgerContractAddress": contract,
            "LedgerChainId": "31337",
            "LedgerNetwork": "anvil",
        }
    return given


def check_hardening(service: str, name: str) -> None:
    user = podman("exec", name, "id", "-u").stdout.strip()
    if user != "10001":
        raise ImageTestError(f"{service}: runs as uid {user}, not the image's 10001")
    if podman("exec", name, "touch", "/opt/venv/written", check=False).returncode == 0:
        raise ImageTestError(f"{service}: the root filesystem is writable")
    status = podman("exec", name, "cat", "/proc/1/status").stdout
    effective = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))
    if int(effective, 16) != 0:
        raise ImageTestError(f"{service}: PID 1 still holds capabilities {effective}")


def smoke(service: str, tag: str, workdir: Path, key: str, report: Report) -> None:
    env = {"SERVICE": service, "BASE_URL": f"http://127.0.0.1:{PORT}", "SMOKE_JWT_SECRET": key}
    env |= {"SMOKE_RUN_ID": f"image-test-{service}"}
    path = env_file(workdir, f"{service}-smoke", env)
    ran = podman(
        "run", "--rm", *HARDENED, f"--env-file={path}", image_name("smoke", tag), check=False
    )
    line = next((s for s in ran.stdout.splitlines() if s.startswith("smoke-summary ")), None)
    if line is None:
        raise ImageTestError(
            f"{service}: the smoke runner printed no summary:\n{ran.stdout[-3000:]}{ran.stderr}"
        )
    summary = json.loads(line.removeprefix("smoke-summary "))
    collection = json.loads(
        (REPO / "deploy" / "smoke" / f"{service}.postman_collection.json").read_text()
    )
    if summary["requests"] != len(collection["item"]):
        raise ImageTestError(f"{service}: the smoke runner sent {summary['requests']} requests")
    if summary["failures"] or ran.returncode != 0:
        raise ImageTestError(
            f"{service}: smoke checks failed against the prod-mode image: {summary['failures']}"
        )
    report.note(service, "smoke", "passed")


def drain(service: str, name: str, report: Report) -> None:
    """SIGTERM as ECS sends it (after the target drained): uvicorn must finish its graceful
    shutdown well before StopTimeout. uvicorn re-raises the signal once it is done, so the exit
    status is 143 (or 0); 137 would be a kill, and no shutdown lines mean no graceful path."""
    started = time.monotonic()
    podman("kill", "--signal", "TERM", name)
    waited = podman("wait", name, check=False)
    elapsed = time.monotonic() - started
    code, output = waited.stdout.strip(), logs(name)
    if code not in ("0", "143"):
        raise ImageTestError(f"{service}: exit code {code} after SIGTERM:\n{output}")
    for line in ("Application shutdown complete", "Finished server process"):
        if line not in output:
            raise ImageTestError(f"{service}: no '{line}' after SIGTERM:\n{output}")
    if elapsed >= 25:
        raise ImageTestError(f"{service}: took {elapsed:.1f} s to stop, ECS kills at 30 s")
    report.note(service, "drain", f"{elapsed:.1f} s (exit {code})")


# ------------------------------------------------------------------ main
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--boot", action="store_true", help="boot each image as ECS would (else build only)"
    )
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--base", default=os.environ.get("PYTHON_IMAGE", LOCAL_BASE))
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=SERVICES)
    args = parser.parse_args(argv)
    if shutil.which("podman") is None:
        raise SystemExit("podman not found: `make image-deps` installs it (Debian packages)")
    overall = time.monotonic()
    report = Report()
    try:
        if args.base == LOCAL_BASE:
            base_script = str(REPO / "deploy" / "images" / "base-image.sh")
            subprocess.run([base_script, LOCAL_BASE], check=True)  # noqa: S603 - our script
        for image in [*args.services, "smoke"]:
            build(image, args.tag, args.base, report)
        if args.boot:
            boot_all(args.services, args.tag, report)
    except ImageTestError as exc:
        print(f"\nimage test FAILED: {exc}", file=sys.stderr)
        return 1
    print("\n" + report.table())
    print(f"\nimage test passed in {time.monotonic() - overall:.0f} s", flush=True)
    return 0


def boot_all(services: list[str], tag: str, report: Report) -> None:
    database = f"betfuz_image_test_{secrets.token_hex(4)}"
    database_url = asyncio.run(create_database(database))
    try:
        with (
            tempfile.TemporaryDirectory(prefix="betfuz-image-test-") as scratch,
            local_chain() as chain,
        ):
            for service in services:
                run_service(service, tag, Path(scratch), database_url, chain, report)
    finally:
        with suppress(Exception):
            asyncio.run(drop_database(database))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
