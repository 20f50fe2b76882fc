"""The core platform's stand-in tables, for local runs and tests only."""

from __future__ import annotations

from pathlib import Path

from betfuz_common.db import Migration, discover

PLATFORM_SCHEMA = "public"
PLATFORM_MIGRATIONS = Path(__file__).parent / "platform_migrations"


def platform_migrations() -> list[Migration]:
    return discover([("platform", PLATFORM_MIGRATIONS)])


def all_migrations() -> list[tuple[str, list[Migration]]]:
    """(schema, files) for the stand-in and every service, in the order they must run."""
    from ledger.__main__ import SERVICE as LEDGER
    from topup.__main__ import SERVICE as TOPUP
    from treasury.__main__ import SERVICE as TREASURY

    return [
        (PLATFORM_SCHEMA, platform_migrations()),
        *((svc.schema, svc.migrations()) for svc in (TOPUP, TREASURY, LEDGER)),
    ]
