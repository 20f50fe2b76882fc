"""Every migration the local stack and the tests apply: the core platform's stand-in tables,
then each service's own schema."""

from __future__ import annotations

from betfuz_common.db import Migration
from betfuz_testing.platform import PLATFORM_SCHEMA, platform_migrations
from ledger.__main__ import SERVICE as LEDGER
from topup.__main__ import SERVICE as TOPUP
from treasury.__main__ import SERVICE as TREASURY


def all_migrations() -> list[tuple[str, list[Migration]]]:
    """(schema, files) for the stand-in and every service, in the order they must run."""
    return [
        (PLATFORM_SCHEMA, platform_migrations()),
        *((svc.schema, svc.migrations()) for svc in (TOPUP, TREASURY, LEDGER)),
    ]
