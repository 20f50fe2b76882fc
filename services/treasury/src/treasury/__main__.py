"""`python -m treasury` serves HTTP; `python -m treasury migrate` applies its migrations."""

from __future__ import annotations

import sys

from betfuz_common.cli import ServiceDefinition, run
from treasury.app import create_app
from treasury.config import TreasurySettings

SERVICE = ServiceDefinition(
    name="treasury",
    settings_cls=TreasurySettings,
    create_app=create_app,
)

if __name__ == "__main__":
    sys.exit(run(SERVICE, sys.argv[1:]))
