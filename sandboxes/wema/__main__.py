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
from sandboxes.wema.server import SandboxConfig, create_app


def serve() -> int:
    uvicorn.run(
        create_app(SandboxConfig.from_env()),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "9102")),
        log_level="warning",
        access_log=False,
    )
    return 0


def deposit(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.wema deposit")
    parser.add_argument("--account", required=True, help="the 10-digit account number")
    parser.add_argument("--amount", required=True, help="Naira, e.g. 50000.50")
    parser.add_argument("--reference", help="transaction_reference (default: a fresh one)")
    parser.add_argument("--duplicates", type=int, default=1, help="deliver each deposit N times")
    parser.add_argument("--deposits", type=int, default=1, help="N distinct deposits")
    parser.add_argument("--out-of-order", action="store_true", help="deliver newest first")
    parser.add_argument(
        "--sandbox",
        default=os.environ.get("WEMA_SANDBOX_URL", "http://127.0.0.1:9102"),
        help="the running sandbox",
    )
    args = parser.parse_args(argv)
    order: dict[str, Any] = {
        "account_number": args.account,
        "amount": args.amount,
        "duplicates": args.duplicates,
        "deposits": args.deposits,
        "out_of_order": args.out_of_order,
    }
    if args.reference:
        order["reference"] = args.reference
    try:
        response = httpx.post(
            args.sandbox + "/_sandbox/deposits",
            content=jsonio.dumps(order),
            headers={"content-type": "application/json"},
            timeout=300,
        )
    except httpx.HTTPError as exc:
        print(f"the Wema sandbox at {args.sandbox} did not answer: {exc}", file=sys.stderr)
        return 1
    print(response.text)
    return 0 if response.status_code == 200 else 1


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "deposit":
        return deposit(argv[1:])
    if argv and argv[0] not in ("serve",):
        print("usage: python -m sandboxes.wema [serve | deposit --help]", file=sys.stderr)
        return 2
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
