"""Migrations are expand/contract safe: blue keeps serving on the migrated schema.

The migration task runs before green starts, and blue (the previous release) keeps serving on
the new schema until the bake time ends; a rollback puts it back on that schema for good. So a
migration may only add (expand) unless it is a marked contract migration, shipped a release
after the code stopped using what it removes. The mark is a first line
`-- contract: <which release stopped using it>`. This check refuses, anywhere else, the DDL that
breaks the previous release's queries: dropping or renaming a table or column, changing a
column's type, making a column NOT NULL (or adding one without a default), truncating.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted(
    [
        *ROOT.glob("services/*/src/*/migrations/*.sql"),
        *ROOT.glob("libs/common/src/betfuz_common/migrations/*.sql"),
    ]
)
CONTRACT_MARK = re.compile(r"\A--\s*contract:\s*\S")
DESTRUCTIVE = {
    "drops a table": r"\bDROP\s+TABLE\b",
    "drops a schema": r"\bDROP\s+SCHEMA\b",
    "drops a column": r"\bDROP\s+COLUMN\b",
    "drops a view": r"\bDROP\s+(MATERIALIZED\s+)?VIEW\b",
    "renames": r"\bRENAME\b",
    "changes a column's type": r"\bALTER\s+COLUMN\s+\w+\s+(SET\s+DATA\s+)?TYPE\b",
    "makes a column NOT NULL": r"\bALTER\s+COLUMN\s+\w+\s+SET\s+NOT\s+NULL\b",
    # A TRUNCATE statement; `BEFORE TRUNCATE ON t` in a trigger declaration changes no data.
    "truncates": r"(?:^|;)\s*TRUNCATE\b",
    "adds a NOT NULL column without a default": (
        r"\bADD\s+(COLUMN\s+)?(IF\s+NOT\s+EXISTS\s+)?(?!CONSTRAINT\b)\w+\s+[^,;]*\bNOT\s+NULL\b"
        r"(?![^,;]*\bDEFAULT\b)"
    ),
}


def statements_without_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    sql = re.sub(r"--[^\n]*", " ", sql)
    # Quoted text (RAISE NOTICE messages, defaults) is data, not DDL.
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    return re.sub(r"\s+", " ", sql)


def problems(sql: str) -> list[str]:
    if CONTRACT_MARK.match(sql):
        return []
    text = statements_without_comments(sql)
    return [why for why, pattern in DESTRUCTIVE.items() if re.search(pattern, text, re.I)]


def test_there_are_migrations_to_check() -> None:
    assert len(MIGRATIONS) >= 5


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_migration_breaks_the_previous_release_unless_marked_contract(path: Path) -> None:
    found = problems(path.read_text())
    assert not found, f"{path.name} {', '.join(found)}: expand first, contract a release later"


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE topup.topup_transactions DROP COLUMN metadata;",
        "drop table if exists ledger.ledger_entries;",
        "ALTER TABLE t RENAME COLUMN a TO b;",
        "ALTER TABLE t ALTER COLUMN amount TYPE NUMERIC(30, 2);",
        "ALTER TABLE t ALTER COLUMN phone SET NOT NULL;",
        "ALTER TABLE t ADD COLUMN provider VARCHAR(16) NOT NULL;",
        "TRUNCATE topup.topup_events;",
    ],
)
def test_the_check_refuses_ddl_that_breaks_the_running_release(sql: str) -> None:
    assert problems(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE t ADD COLUMN provider VARCHAR(16) NOT NULL DEFAULT 'selcom';",
        "ALTER TABLE t ADD COLUMN note TEXT;",
        "CREATE INDEX IF NOT EXISTS t_by_user ON t (user_id);",
        "ALTER TABLE t ADD CONSTRAINT t_phone CHECK (phone IS NOT NULL) NOT VALID;",
        "-- a comment that says DROP TABLE is not a statement\nCREATE TABLE x (id INT);",
        "DO $$ BEGIN RAISE NOTICE 'run: DROP TABLE old'; END $$;",
        "-- contract: 1.4 stopped reading metadata\nALTER TABLE t DROP COLUMN metadata;",
    ],
)
def test_the_check_lets_expansions_and_marked_contractions_through(sql: str) -> None:
    assert problems(sql) == []
