"""Deploy BetLedger and print its address: ``python -m ledger.deploy_contract``.

Environment: POLYGON_RPC_URL, LEDGER_PRIVATE_KEY (becomes the contract admin), and optionally
LEDGER_RECORDER_ADDRESS (the worker's hot key; defaults to the deploying key). Put the printed
address in LEDGER_CONTRACT_ADDRESS.
"""

import asyncio
import os
import sys
from collections.abc import Mapping

from ledger.chain import deploy


def main(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    missing = [name for name in ("POLYGON_RPC_URL", "LEDGER_PRIVATE_KEY") if not env.get(name)]
    if missing:
        print(f"missing environment: {', '.join(missing)}", file=sys.stderr)
        return 2
    address = asyncio.run(
        deploy(
            env["POLYGON_RPC_URL"],
            env["LEDGER_PRIVATE_KEY"],
            recorder=env.get("LEDGER_RECORDER_ADDRESS") or None,
        )
    )
    print(address)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
