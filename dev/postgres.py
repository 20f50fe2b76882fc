"""`make db`: make sure PostgreSQL answers, starting the local cluster when it is down."""

from __future__ import annotations

from betfuz_testing.postgres import ensure_running

if __name__ == "__main__":
    ensure_running()
    print("PostgreSQL answers.")
