"""`python -m ledger` serves HTTP; `python -m ledger migrate` applies the schema's migrations."""

from __future__ import annotations

import sys
from pathlib import Path

from betfuz_common.cli import ServiceDefinition, run
from ledger.app import create_app
from ledger.config import LedgerSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

SERVICE = ServiceDefinition(
    name="ledger",
    schema="ledger",
    settings_cls=LedgerSettings,
    create_app=create_app,
    migrations_dir=MIGRATIONS,
)

if __name__ == "__main__":
    sys.exit(run(SERVICE, sys.argv[1:]))
