"""The core platform's stand-in tables (`public.users`, `public.bet_slips`), for local runs and
tests only: in production these belong to the platform, not to the payment services."""

from __future__ import annotations

from pathlib import Path

from betfuz_common.db import Migration, discover

PLATFORM_SCHEMA = "public"
PLATFORM_MIGRATIONS = Path(__file__).parent / "platform_migrations"


def platform_migrations() -> list[Migration]:
    return discover([("platform", PLATFORM_MIGRATIONS)])
