"""`make token USER=<id> [ROLE=compliance]`: a dev JWT signed with the local JWT_SECRET.

The token goes to stdout alone (so `TOKEN=$(make -s token USER=demo-ada)` works); anything a
person should know about it (a user id with no wallet in the dev database) goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Sequence

import asyncpg

from betfuz_common.auth import issue_token
from betfuz_common.settings import CommonSettings
from dev import seed

USAGE = "usage: make token USER=<user id> [ROLE=compliance|admin|ops]"
# The roles some endpoint checks: ledger reads (compliance, admin) and the ops API (ops).
ROLES = ("compliance", "admin", "ops")
# What public.users.id holds: up to 128 visible characters, no spaces.
USER_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def problems(user_id: str | None, roles: Sequence[str]) -> list[str]:
    found = []
    if not user_id:
        demo = ", ".join(user.id for user in seed.USERS)
        found.append(f"make token needs USER=<user id>, e.g. USER={seed.QUICKSTART_USER} ({demo})")
    elif not USER_ID.match(user_id):
        found.append(f"USER={user_id!r}: a user id is 1-128 visible characters, no spaces")
    known = ", ".join(ROLES)
    found += [f"ROLE={r!r}: the roles endpoints check are {known}" for r in roles if r not in ROLES]
    return found


async def has_wallet(url: str, user_id: str) -> bool | None:
    """Whether the dev database knows the user; None when it cannot be asked quickly."""
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), 2)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return None
    try:
        return bool(await conn.fetchval("SELECT 1 FROM public.users WHERE id = $1", user_id))
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make token", description=__doc__.split("\n")[0])
    parser.add_argument("user_id", nargs="?", default="")
    parser.add_argument("--role", action="append", default=[])
    parser.add_argument("--ttl", type=int, default=24 * 3600)
    parser.add_argument("--no-check", action="store_true", help="skip the dev database look-up")
    args = parser.parse_args(argv)
    if os.environ.get("APP_ENV") == "prod":
        print("make token: refusing to mint tokens with APP_ENV=prod", file=sys.stderr)
        return 2
    found = problems(args.user_id, args.role)
    if found:
        print("\n".join([*found, USAGE]), file=sys.stderr)
        return 2
    secret = os.environ.get("JWT_SECRET") or CommonSettings.DEV_DEFAULTS["JWT_SECRET"]
    print(issue_token(secret, args.user_id, roles=args.role, ttl_seconds=args.ttl))
    if not args.no_check and not args.role:
        known = asyncio.run(has_wallet(seed.database_url(), args.user_id))
        if known is False:
            print(
                f"note: {args.user_id!r} has no wallet in the dev database, so topup answers 402 "
                f"and treasury 404 user_not_found; the demo users are "
                f"{', '.join(u.id for u in seed.USERS)} (make seed re-creates them)",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
