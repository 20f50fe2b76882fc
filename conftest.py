"""Fixtures every suite shares live in betfuz_testing; this file loads them and says which
migrations a test database gets (the library itself knows no service)."""

from __future__ import annotations

import pytest

from betfuz_common.db import Migration
from dev.platform import all_migrations as every_migration

pytest_plugins = ["betfuz_testing.fixtures"]


@pytest.fixture(scope="session")
def all_migrations() -> list[tuple[str, list[Migration]]]:
    return every_migration()
