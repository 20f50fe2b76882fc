"""BetLedger gas per bet and recording throughput on a local anvil.

    python -m bench.ledger_gas [--seconds 20] [--out results.json]

Deploys a fresh BetLedger, records one warm-up bet (the first write of the stats slot costs an
extra ~20k gas once per contract, so it is kept out of the steady-state numbers), then batches
of 1, 10 and 100 fresh bets, and reports gas per bet for each. Throughput is batch-100
send + receipt in a loop for --seconds: it measures the client and node, not a real chain,
whose limit is block gas (about 2.6M gas per batch of 100).
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from web3 import AsyncWeb3

from betfuz_testing.anvil import DEV_PRIVATE_KEYS, run_anvil
from ledger.artifact import load_artifact
from ledger.chain import LedgerChain, connect, deploy, open_web3
from ledger.ports import BetToRecord

KEY = DEV_PRIVATE_KEYS[0]
BATCH_SIZES = (1, 10, 100)
RECEIPT_POLL_SECONDS = 0.005  # web3's default 0.1 s would dominate a local round trip


def fresh_batch(size: int) -> list[BetToRecord]:
    return [BetToRecord(os.urandom(32), 100_000_000 + i) for i in range(size)]


async def record(chain: LedgerChain, w3: AsyncWeb3[Any], size: int) -> int:
    tx_hash = await chain.record_bets(fresh_batch(size))
    receipt = await w3.eth.wait_for_transaction_receipt(
        tx_hash,  # type: ignore[arg-type]
        poll_latency=RECEIPT_POLL_SECONDS,
    )
    if receipt["status"] != 1:
        raise RuntimeError(f"batch of {size} reverted in {tx_hash}")
    return int(receipt["gasUsed"])


async def measure(rpc_url: str, seconds: float) -> dict[str, Any]:
    address = await deploy(rpc_url, KEY)
    async with connect(rpc_url, KEY, address) as chain, open_web3(rpc_url) as w3:
        await record(chain, w3, 1)  # warm-up: first write of the stats slot
        gas = {}
        for size in BATCH_SIZES:
            used = await record(chain, w3, size)
            gas[str(size)] = {"gas_used": used, "gas_per_bet": round(used / size)}

        batches = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await record(chain, w3, 100)
            batches += 1
        elapsed = time.perf_counter() - started
    return {
        "compiler": load_artifact().compiler_version,
        "gas": gas,
        "throughput": {
            "batch_size": 100,
            "seconds": round(elapsed, 2),
            "batches": batches,
            "bets": batches * 100,
            "bets_per_minute": round(batches * 100 * 60 / elapsed),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput loop length")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    with run_anvil() as node:
        result = asyncio.run(measure(node.rpc_url, args.seconds))
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for size, numbers in result["gas"].items():
        print(f"batch of {size:>3}: {numbers['gas_per_bet']:>6} gas per bet", file=sys.stderr)
    print(f"{result['throughput']['bets_per_minute']} bets per minute", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
