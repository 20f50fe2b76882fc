"""`python -m sandboxes.wema` serves the sandbox; `... deposit --account N --amount A` uses it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import httpx
import uvicorn

from betfuz_common import jsonio
from betfuz_common.logging import configure_logging
from sandboxes.wema.orders import LIMITS, is_account_number, parse_amount
from sandboxes.wema.server import SandboxConfig, create_app


def serve() -> int:
    # The services' log setup, so `make run` shows its lines like everyone else's.
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    uvicorn.run(
        create_app(SandboxConfig.from_env()),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "9102")),
        log_config=None,
        access_log=False,
    )
    return 0


def whole_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= LIMITS["duplicates"]:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 10000")
    return int(text)


def deposit_problems(account: str, amount: str) -> list[str]:
    """What is wrong with a deposit before it is sent, in words a person can act on."""
    problems = []
    if not is_account_number(account):
        problems.append(f"account {account!r} is not a 10-digit account number (e.g. 0123456789)")
    if parse_amount(amount) is None:
        problems.append(
            f"amount {amount!r} is not a positive naira amount with at most 2 decimals "
            "(e.g. 50000 or 1500.50)"
        )
    return problems


def send_deposit(sandbox: str, order: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
    """Ask the running sandbox to deliver; (HTTP status, its JSON answer or its text)."""
    response = httpx.post(
        sandbox + "/_sandbox/deposits",
        content=jsonio.dumps(order),
        headers={"content-type": "application/json"},
        timeout=300,
    )
    try:
        body = jsonio.loads(response.content)
    except jsonio.JsonError:
        return response.status_code, response.text
    return response.status_code, body if isinstance(body, dict) else response.text


def summary(result: dict[str, Any], account: str, amount: str) -> tuple[bool, str]:
    """(every deposit was credited, or was meant to go unnotified; a line saying what
    happened)."""
    references = result.get("references") or []
    outcomes: dict[str, int] = result.get("outcomes") or {}
    statuses: dict[str, int] = result.get("statuses") or {}
    if result.get("deliveries") == 0:
        line = (
            f"deposit {', '.join(references)} of ₦{parse_amount(amount) or 0:,.2f} to {account}: "
            "made at the bank with no webhook (NOTIFY=0); the next reconciliation tick credits it"
        )
        return True, line
    said = ", ".join(f"{name} ×{count}" for name, count in sorted(outcomes.items())) or "nothing"
    answered = ", ".join(f"{code} ×{count}" for code, count in sorted(statuses.items()))
    credited = outcomes.get("credited", 0) == len(references) and set(statuses) == {"200"}
    line = (
        f"deposit {', '.join(references)} of ₦{parse_amount(amount) or 0:,.2f} to {account}: "
        f"the treasury webhook answered {answered}: {said}"
    )
    if outcomes.get("held_for_review"):
        line += " (no active account has that number: the deposit is held for review)"
    elif not credited and "401" in statuses:
        line += " (the signature was refused: do the sandbox and treasury share WEMA_SECRET_KEY?)"
    return credited, line


def deposit(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.wema deposit")
    parser.add_argument("--account", required=True, help="the 10-digit account number")
    parser.add_argument("--amount", required=True, help="Naira, e.g. 50000.50")
    parser.add_argument("--reference", help="transaction_reference (default: a fresh one)")
    parser.add_argument(
        "--duplicates", type=whole_number, default=1, help="deliver each deposit N times"
    )
    parser.add_argument("--deposits", type=whole_number, default=1, help="N distinct deposits")
    parser.add_argument("--out-of-order", action="store_true", help="deliver newest first")
    parser.add_argument(
        "--no-notify", action="store_true", help="make the deposit, send no webhook"
    )
    parser.add_argument(
        "--sandbox",
        default=os.environ.get("WEMA_SANDBOX_URL", "http://127.0.0.1:9102"),
        help="the running sandbox",
    )
    args = parser.parse_args(argv)
    problems = deposit_problems(args.account, args.amount)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    order: dict[str, Any] = {
        "account_number": args.account,
        "amount": args.amount,
        "duplicates": args.duplicates,
        "deposits": args.deposits,
        "out_of_order": args.out_of_order,
        "notify": not args.no_notify,
    }
    if args.reference:
        order["reference"] = args.reference
    return deliver_and_report(args.sandbox, order)


def deliver_and_report(sandbox: str, order: dict[str, Any]) -> int:
    """Send the order, print what happened; 0 only when every deposit was credited."""
    try:
        status, body = send_deposit(sandbox, order)
    except httpx.HTTPError as exc:
        print(
            f"the Wema sandbox at {sandbox} did not answer ({type(exc).__name__}): "
            "is the local stack running (make run)?",
            file=sys.stderr,
        )
        return 1
    if status != 200 or not isinstance(body, dict):
        message = body.get("message") if isinstance(body, dict) else str(body)[:200]
        print(f"the Wema sandbox refused the deposit ({status}): {message}", file=sys.stderr)
        return 1
    credited, line = summary(body, order["account_number"], str(order["amount"]))
    print(line)
    print(jsonio.dumps(body).decode())
    return 0 if credited else 1


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "deposit":
        return deposit(argv[1:])
    if argv and argv[0] not in ("serve",):
        print("usage: python -m sandboxes.wema [serve | deposit --help]", file=sys.stderr)
        return 2
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
