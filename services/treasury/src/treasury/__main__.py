"""`python -m treasury` serves HTTP; `python -m treasury migrate` applies its migrations."""

from __future__ import annotations

import sys
from pathlib import Path

from betfuz_common.cli import ServiceDefinition, run
from treasury.app import create_app
from treasury.config import TreasurySettings

MIGRATIONS = Path(__file__).parent / "migrations"

SERVICE = ServiceDefinition(
    name="treasury",
    schema="treasury",
    settings_cls=TreasurySettings,
    create_app=create_app,
    migrations_dir=MIGRATIONS,
)

if __name__ == "__main__":
    sys.exit(run(SERVICE, sys.argv[1:]))
