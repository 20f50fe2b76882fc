"""`python -m sandboxes.anvil`: the local chain for `make run` (dev only).

Replaces itself with the anvil binary from the npm package `@foundry-rs/anvil`, so the stack
runner stops anvil itself. One block a second, and `finalized` two blocks behind the head, so
the ledger worker's finality wait behaves as on a real network, only faster.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV_ARGS = ["--block-time", "1", "--slots-in-an-epoch", "1", "--silent"]


def anvil_binary() -> str:
    local = REPO / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise SystemExit("anvil not found: run `make install` (npm package @foundry-rs/anvil)")
    return found


def main(argv: list[str]) -> None:
    binary = anvil_binary()
    port = os.environ.get("ANVIL_PORT", "8545")
    command = [binary, "--host", "127.0.0.1", "--port", port, *DEV_ARGS, *argv]
    os.execv(binary, command)  # noqa: S606 - our own binary, fixed arguments


if __name__ == "__main__":
    main(sys.argv[1:])
