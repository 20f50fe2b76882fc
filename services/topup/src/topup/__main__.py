"""`python -m topup` serves HTTP; `migrate` applies the schema's migrations;
`reconcile [--once]` runs the reconciliation job outside the server (ops, cron)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from prometheus_client import CollectorRegistry

from betfuz_common import jsonio
from betfuz_common.cli import ServiceDefinition, run
from topup.app import create_app
from topup.config import TopupSettings
from topup.metrics import TopupMetrics
from topup.reconcile import ReconcileConfig, reconcile_once, report_dict, run_forever
from topup.runtime import open_ports


def reconcile_command(settings: TopupSettings, args: argparse.Namespace) -> int:
    once = "--once" in args.extra
    config = ReconcileConfig.from_settings(settings)

    async def main() -> None:
        async with open_ports(settings, TopupMetrics(CollectorRegistry()), pool_size=4) as ports:
            if once:
                report = await reconcile_once(ports, config)
                sys.stdout.write(jsonio.dumps(report_dict(report)).decode() + "\n")
            else:
                await run_forever(ports, config)

    asyncio.run(main())
    return 0


SERVICE = ServiceDefinition(
    name="topup",
    settings_cls=TopupSettings,
    create_app=create_app,
    commands={
        "reconcile": (
            "settle pending topups with Selcom (--once: one tick, then exit)",
            reconcile_command,
        ),
    },
)

if __name__ == "__main__":
    sys.exit(run(SERVICE, sys.argv[1:]))
