"""`python -m ledger [serve|migrate|deploy|worker [--once]|audit]`."""

from __future__ import annotations

import sys

from betfuz_common.cli import ServiceDefinition, run
from ledger.app import create_app
from ledger.commands import audit_command, deploy_command, worker_command
from ledger.config import LedgerSettings

SERVICE = ServiceDefinition(
    name="ledger",
    settings_cls=LedgerSettings,
    create_app=create_app,
    commands={
        "deploy": (
            "deploy BetLedger to $POLYGON_RPC_URL, grant the recorder role, "
            "print LEDGER_CONTRACT_ADDRESS=0x...",
            deploy_command,
        ),
        "worker": ("run the recording worker (--once: a single tick)", worker_command),
        "audit": (
            "re-read every confirmed entry from the chain; a case and exit 1 per mismatch",
            audit_command,
        ),
    },
)

if __name__ == "__main__":
    sys.exit(run(SERVICE, sys.argv[1:]))
