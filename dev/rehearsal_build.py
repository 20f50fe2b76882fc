"""`python -m dev.rehearsal_build SERVICE [--broken]`: a service build for `make rehearse`.

Without --broken it is exactly `python -m SERVICE`. With --broken it is a release that passes
the load balancer's health check but not the smoke tests: its readiness check answers 503, as a
build whose database configuration is wrong would. The rehearsal deploys it to show that such a
green never takes production traffic.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from betfuz_common.cli import ServiceDefinition, run


class BrokenReadiness:
    """ASGI middleware: the readiness path answers 503, everything else is the real service."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app, self.path = app, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            body = json.dumps({"title": "Not ready", "status": 503}).encode()
            headers = [(b"content-type", b"application/problem+json")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def with_broken_readiness(
    create: Callable[[Any], Starlette], path: str
) -> Callable[[Any], Starlette]:
    def create_app(settings: Any) -> Starlette:
        app = create(settings)
        app.add_middleware(BrokenReadiness, path=path)
        return app

    return create_app


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=["topup", "treasury", "ledger"])
    parser.add_argument("--broken", action="store_true")
    args = parser.parse_args(argv)
    definition: ServiceDefinition[Any] = importlib.import_module(f"{args.service}.__main__").SERVICE
    if args.broken:
        broken = with_broken_readiness(definition.create_app, f"/{args.service}/ready")
        definition = dataclasses.replace(definition, create_app=broken)
    return run(definition, ["serve"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
