"""`make deposit ACCOUNT=<10 digits>|USER=<id> AMOUNT=<naira> [DUPLICATES=n] [NOTIFY=0]`: a
signed Wema deposit webhook, sent by the running Wema sandbox to the treasury service. NOTIFY=0
makes the deposit at the bank and sends no webhook: the next reconciliation tick credits it.

USER=<id> looks the account number up through the stack (GET /treasury/accounts/me with a dev
token), so a person need not copy it from an earlier answer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import httpx

from betfuz_common.auth import issue_token
from betfuz_common.settings import CommonSettings
from sandboxes.wema.__main__ import deliver_and_report, deposit_problems, whole_number

USAGE = (
    "usage: make deposit ACCOUNT=<10-digit account number>|USER=<user id> AMOUNT=<naira> "
    "[DUPLICATES=n] [NOTIFY=0]"
)


class LookupFailed(Exception):
    """The user's account number could not be found; the message says what to do."""


def account_of(api: httpx.Client, user_id: str) -> str:
    """The user's account number, read through the stack as the user would."""
    secret = os.environ.get("JWT_SECRET") or CommonSettings.DEV_DEFAULTS["JWT_SECRET"]
    headers = {"Authorization": f"Bearer {issue_token(secret, user_id, ttl_seconds=60)}"}
    try:
        answer = api.get("/treasury/accounts/me", headers=headers)
    except httpx.HTTPError:
        raise LookupFailed(
            f"the local stack does not answer at {api.base_url}: start it with `make run`"
        ) from None
    if answer.status_code == 404:
        raise LookupFailed(
            f"{user_id} has no bank account yet: open one first (POST /treasury/accounts, "
            "as in the README), or give ACCOUNT=<10 digits>"
        )
    if answer.status_code != 200:
        raise LookupFailed(
            f"GET /treasury/accounts/me answered {answer.status_code}: {answer.text[:200]}"
        )
    number = answer.json().get("accountNumber")
    if not isinstance(number, str):
        raise LookupFailed(f"{user_id}'s account has no number yet (it is still being opened)")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make deposit", description=__doc__.split("\n")[0])
    parser.add_argument("--account", default="")
    parser.add_argument("--user", default="")
    parser.add_argument("--amount", default="")
    parser.add_argument("--duplicates", default="1")
    parser.add_argument("--notify", default="1")
    args = parser.parse_args(argv)
    found = []
    if bool(args.account) == bool(args.user):
        found.append("make deposit needs ACCOUNT=<10 digits> or USER=<user id> (one of them)")
    if not args.amount:
        found.append("make deposit needs AMOUNT=<naira>, e.g. AMOUNT=50000")
    try:
        duplicates = whole_number(args.duplicates)
    except argparse.ArgumentTypeError as exc:
        found.append(f"DUPLICATES: {exc}")
    if args.notify not in ("0", "1"):
        found.append(f"NOTIFY must be 0 (no webhook) or 1 (the default), not {args.notify!r}")
    if not found:
        found = deposit_problems(args.account or "0000000000", args.amount)
    if found:
        print("\n".join([*found, USAGE]), file=sys.stderr)
        return 2
    stack_url = os.environ.get("STACK_URL", "http://127.0.0.1:8000")
    try:
        with httpx.Client(base_url=stack_url, timeout=10) as api:
            account = args.account or account_of(api, args.user)
    except LookupFailed as exc:
        print(f"make deposit: {exc}", file=sys.stderr)
        return 1
    sandbox = os.environ.get("WEMA_SANDBOX_URL", "http://127.0.0.1:9102")
    order = {
        "account_number": account,
        "amount": args.amount,
        "duplicates": duplicates,
        "notify": args.notify == "1",
    }
    return deliver_and_report(sandbox, order)


if __name__ == "__main__":
    sys.exit(main())
