"""`python -m topup` serves HTTP; `python -m topup migrate` applies the schema's migrations."""

from __future__ import annotations

import sys
from pathlib import Path

from betfuz_common.cli import ServiceDefinition, run
from topup.app import create_app
from topup.config import TopupSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

SERVICE = ServiceDefinition(
    name="topup",
    schema="topup",
    settings_cls=TopupSettings,
    create_app=create_app,
    migrations_dir=MIGRATIONS,
)

if __name__ == "__main__":
    sys.exit(run(SERVICE, sys.argv[1:]))
