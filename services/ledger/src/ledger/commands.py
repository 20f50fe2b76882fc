"""`python -m ledger deploy`, `python -m ledger worker [--once]` and `python -m ledger audit`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time

from betfuz_common.db import create_pool
from betfuz_common.logging import get_logger
from ledger.audit import AuditSummary, describe, run_audit
from ledger.chain import chain_factory, deploy, open_web3
from ledger.config import LedgerSettings
from ledger.ports import ChainFactory
from ledger.worker import Worker, WorkerConfig, describe_error, url_secrets

log = get_logger("ledger.commands")
KNOWN_NETWORKS = {137: "polygon", 80002: "polygon-amoy", 31337: "anvil"}


def deploy_command(settings: LedgerSettings, args: argparse.Namespace) -> int:
    """Deploy BetLedger, grant the recorder role, print KEY=VALUE lines for the environment."""
    parser = argparse.ArgumentParser(prog="python -m ledger deploy")
    parser.add_argument(
        "--wait", type=float, default=30, help="seconds to wait for the RPC node to answer"
    )
    options = parser.parse_args(args.extra)
    chain_id = asyncio.run(_wait_for_node(settings.polygon_rpc_url, options.wait))
    address = asyncio.run(
        deploy(
            settings.polygon_rpc_url,
            settings.ledger_private_key.get_secret_value(),
            recorder=settings.ledger_recorder_address,
            min_priority_fee_wei=settings.min_priority_fee_wei,
        )
    )
    print(f"LEDGER_CONTRACT_ADDRESS={address}")
    print(f"LEDGER_CHAIN_ID={chain_id}")
    if chain_id in KNOWN_NETWORKS:
        print(f"LEDGER_NETWORK={KNOWN_NETWORKS[chain_id]}")
    return 0


async def _wait_for_node(rpc_url: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:
        try:
            async with open_web3(rpc_url) as w3:
                return int(await w3.eth.chain_id)
        except Exception:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)


def worker_command(settings: LedgerSettings, args: argparse.Namespace) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger worker")
    parser.add_argument("--once", action="store_true", help="run one tick, print its summary")
    options = parser.parse_args(args.extra)
    if not settings.ledger_contract_address:
        print("ledger: LEDGER_CONTRACT_ADDRESS is not set", file=sys.stderr)
        return 2
    return asyncio.run(_run_worker(settings, once=options.once))


async def _run_worker(settings: LedgerSettings, *, once: bool) -> int:
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=4)
    try:
        open_chain = chain_factory(settings)
        assert open_chain is not None  # checked above: the contract address is set
        worker = Worker(
            pool,
            open_chain,
            WorkerConfig.from_settings(settings),
            hide_in_errors=url_secrets(settings.polygon_rpc_url),
        )
        if not once:
            await worker.run_forever(settings.ledger_interval_seconds)
            return 0
        result = await worker.tick()
        print(json.dumps(dataclasses.asdict(result)))
        # Non-zero when anything needs attention: a retry later, or a person (set aside).
        return 0 if result.failed == result.set_aside == 0 else 1
    finally:
        await pool.close()


AUDIT_MISMATCH_EXIT = 1
AUDIT_INCOMPLETE_EXIT = 3


def audit_command(settings: LedgerSettings, args: argparse.Namespace) -> int:
    """Re-read every confirmed entry from the chain; print each mismatch and the counts.

    0: everything matches; 1: a mismatch (each one is now a case); 2: no contract configured;
    3: the audit could not finish (the chain or the database failed): nothing is concluded.
    """
    parser = argparse.ArgumentParser(prog="python -m ledger audit")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=settings.ledger_audit_batch_size,
        help="confirmed entries read and compared at a time",
    )
    options = parser.parse_args(args.extra)
    if options.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    open_chain = chain_factory(settings)
    if open_chain is None:
        print("ledger: LEDGER_CONTRACT_ADDRESS is not set", file=sys.stderr)
        return 2
    hide = url_secrets(settings.polygon_rpc_url)
    try:
        summary = asyncio.run(_audit(settings, open_chain, options.batch_size))
    except Exception as exc:  # noqa: BLE001 - said once, without the node's URL, as exit 3
        print(f"ledger audit incomplete: {describe_error(exc, hide=hide)}", file=sys.stderr)
        return AUDIT_INCOMPLETE_EXIT
    print(json.dumps(dataclasses.asdict(summary)))
    return AUDIT_MISMATCH_EXIT if summary.mismatched else 0


async def _audit(
    settings: LedgerSettings, open_chain: ChainFactory, batch_size: int
) -> AuditSummary:
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=2)
    try:
        return await run_audit(
            pool,
            open_chain,
            batch_size=batch_size,
            report=lambda m: print(describe(m)),
            log_block_range=settings.ledger_log_block_range,
        )
    finally:
        await pool.close()
