"""A throwaway local chain for tests and benchmarks: ``with run_anvil() as chain: ...``.

Starts the anvil binary from the npm package ``@foundry-rs/anvil`` on a free port, waits until
it answers JSON-RPC, and kills it on exit. The dev accounts come from anvil's well-known test
mnemonic; their keys are public and only ever hold play money.
"""

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

# Accounts 0..3 of "test test test test test test test test test test test junk".
DEV_PRIVATE_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
)
DEV_ADDRESSES = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E96051C6b6D7a1d0D4e8",
)


@dataclass(frozen=True)
class Anvil:
    rpc_url: str
    port: int
    chain_id: int


def find_anvil() -> Path:
    """anvil on PATH (the Makefile puts node_modules/.bin there), else in a node_modules/.bin
    of the current directory or one above it."""
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    for folder in (Path.cwd(), *Path.cwd().parents):
        candidate = folder / "node_modules" / ".bin" / "anvil"
        if candidate.exists():
            return candidate
    raise FileNotFoundError("anvil not found: run `make install` (npm package @foundry-rs/anvil)")


def find_anvil_binary() -> Path:
    """The native anvil binary itself, not the npm package's node launcher that `find_anvil`
    finds: a SIGKILL sent to the launcher cannot be passed on, so the real node would live on,
    orphaned, still serving its port. Falls back to `find_anvil` (an anvil installed some other
    way is the binary already)."""
    launcher = find_anvil()
    package = launcher.resolve().parent  # node_modules/@foundry-rs/anvil
    for binary in sorted(package.parent.glob("anvil-*/bin/anvil")):
        if binary.is_file():
            return binary
    return launcher


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _chain_id(rpc_url: str) -> int | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(  # noqa: S310 (a loopback http URL we built ourselves)
        rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 (same)
            return int(json.load(response)["result"], 16)
    except OSError:
        return None


@contextmanager
def run_anvil(extra_args: Sequence[str] = (), *, startup_timeout: float = 20.0) -> Iterator[Anvil]:
    """Run anvil until the block exits. ``extra_args`` go straight to anvil."""
    port = _free_port()
    command = [str(find_anvil()), "--host", "127.0.0.1", "--port", str(port), "--silent"]
    process = subprocess.Popen(  # noqa: S603 (fixed binary, arguments from the caller's code)
        [*command, *extra_args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        rpc_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + startup_timeout
        while (chain_id := _chain_id(rpc_url)) is None:
            if process.poll() is not None:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"anvil exited with {process.returncode}: {stderr.strip()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"anvil did not answer on {rpc_url} in {startup_timeout}s")
            time.sleep(0.05)
        yield Anvil(rpc_url=rpc_url, port=port, chain_id=chain_id)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
