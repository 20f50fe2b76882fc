"""`make token USER=<id> [ROLE=compliance]`: a dev JWT signed with the local JWT_SECRET."""

from __future__ import annotations

import argparse
import os

from betfuz_common.auth import issue_token
from betfuz_common.settings import CommonSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("user_id")
    parser.add_argument("--role", action="append", default=[])
    parser.add_argument("--ttl", type=int, default=24 * 3600)
    args = parser.parse_args()
    if os.environ.get("APP_ENV") == "prod":
        raise SystemExit("refusing to mint tokens with APP_ENV=prod")
    secret = os.environ.get("JWT_SECRET") or CommonSettings.DEV_DEFAULTS["JWT_SECRET"]
    print(issue_token(secret, args.user_id, roles=args.role, ttl_seconds=args.ttl))


if __name__ == "__main__":
    main()
