"""Local stand-in for the load balancer: routes /topup*, /treasury*, /ledger* by path prefix.

Two listeners, as on the ALB: production (PORT, 8000) and test (TEST_PORT, 8443, what ECS points
at green during a blue/green deployment). Each routes with its own rules; both start at the
stack's own services. The rules can be moved while the router runs by replacing one JSON file
(RULES_FILE, default .run/router-rules.json, written atomically by `write_rules`), which is how
`make rehearse` plays ECS moving its listener rules between blue and green.

It forwards what a load balancer forwards and invents no error of its own: the raw path and query
bytes (percent-encoding intact), header bytes as received, minus hop-by-hop headers. It answers
502 only when the upstream refused or broke the connection, 504 when the upstream did not answer
in time, 400 for a request it cannot forward at all, all as problem+json.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, request_response

from betfuz_common.logging import configure_logging

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RULES_FILE = REPO / ".run" / "router-rules.json"
Listener = Literal["production", "test"]
LISTENERS: tuple[Listener, ...] = ("production", "test")

# Same rules as the ALB listener rules: `/name` and `/name/*`.
DEFAULT_UPSTREAMS = {
    "/topup": "http://127.0.0.1:8001",
    "/treasury": "http://127.0.0.1:8002",
    "/ledger": "http://127.0.0.1:8003",
}
# The ALB's idle timeout: an upstream silent for longer gets a 504.
UPSTREAM_TIMEOUT_SECONDS = 60.0

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded. content-length is
# recomputed from the body we send.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)
_OWS = b" \t"
log = logging.getLogger("dev.router")


def upstreams_from_env() -> dict[str, str]:
    """TOPUP_URL, TREASURY_URL, LEDGER_URL override the local ports."""
    return {
        prefix: os.environ.get(f"{prefix.strip('/').upper()}_URL", target)
        for prefix, target in DEFAULT_UPSTREAMS.items()
    }


def pick_upstream(path: str, upstreams: Mapping[str, str]) -> str | None:
    for prefix, target in upstreams.items():
        if path == prefix or path.startswith(prefix + "/"):
            return target
    return None


@dataclass
class Rules:
    """The listener rules: the defaults, overlaid by RULES_FILE whenever that file changes."""

    defaults: Mapping[str, str]
    path: Path | None = None
    _stamp: tuple[int, int] | None = field(default=None, init=False)
    _loaded: dict[Listener, dict[str, str]] = field(default_factory=dict, init=False)

    def for_listener(self, listener: Listener) -> dict[str, str]:
        self._refresh()
        return {**self.defaults, **self._loaded.get(listener, {})}

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._loaded = None, {}
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            document = json.loads(self.path.read_text())
            loaded = {name: dict(document.get(name, {})) for name in LISTENERS}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            # Keep routing with the rules we had; a half-written file never reaches us (rename).
            log.warning(
                "router rules in %s unreadable (%s); keeping the previous ones", self.path, exc
            )
            return
        self._stamp, self._loaded = stamp, loaded


def write_rules(path: Path, rules: Mapping[str, Mapping[str, str]]) -> None:
    """Replace the rules file atomically: a request sees the old rules or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(json.dumps({name: dict(rules.get(name, {})) for name in LISTENERS}))
    os.replace(scratch, path)


def read_rules(path: Path) -> dict[str, dict[str, str]]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {name: {} for name in LISTENERS}
    return {name: dict(document.get(name, {})) for name in LISTENERS}


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers={"date": formatdate(usegmt=True)},
    )


def _forwarded_headers(request: Request) -> list[tuple[bytes, bytes]]:
    raw: list[tuple[bytes, bytes]] = request.scope["headers"]
    named_in_connection = {
        token.strip().lower()
        for name, value in raw
        if name == b"connection"
        for token in value.split(b",")
    }
    headers = [
        # A field value excludes leading and trailing whitespace (RFC 9110 section 5.5).
        (name, value.strip(_OWS))
        for name, value in raw
        if name not in _HOP_BY_HOP
        and name not in named_in_connection
        and name != b"x-forwarded-for"
    ]
    client = request.client.host if request.client else ""
    earlier = [value for name, value in raw if name == b"x-forwarded-for"]
    headers.append((b"x-forwarded-for", b", ".join([*earlier, client.encode()])))
    headers.append((b"x-forwarded-proto", request.url.scheme.encode()))
    return headers


def create_router(
    rules: Rules,
    *,
    test_ports: frozenset[int] = frozenset(),
    timeout_seconds: float = UPSTREAM_TIMEOUT_SECONDS,
) -> Starlette:
    """The router app. A request that arrives on one of `test_ports` follows the test rules."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds)) as client:
            app.state.client = client
            yield

    async def health(_: Request) -> Response:
        return Response(
            b'{"status": "ok"}',
            media_type="application/json",
            headers={"date": formatdate(usegmt=True)},
        )

    async def proxy(request: Request) -> Response:
        server = request.scope.get("server")
        listener: Listener = "test" if server and server[1] in test_ports else "production"
        target = pick_upstream(request.scope["path"], rules.for_listener(listener))
        if target is None:
            return _problem(404, "Not Found", "no listener rule matches this path")
        query: bytes = request.scope["query_string"]
        raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
        url = httpx.URL(target).copy_with(raw_path=raw_path + (b"?" + query if query else b""))
        client: httpx.AsyncClient = request.app.state.client
        try:
            # A bare Request, not client.build_request: the client's default user-agent, accept
            # and accept-encoding headers would be added to what the caller sent.
            upstream = httpx.Request(
                request.method,
                url,
                headers=_forwarded_headers(request),
                content=await request.body(),
            )
            answer = await client.send(upstream, stream=True)
        except httpx.TimeoutException:
            return _problem(504, "Gateway Timeout", f"{target} did not answer in time")
        except httpx.LocalProtocolError as exc:
            return _problem(400, "Bad Request", f"the request cannot be forwarded: {exc}")
        except httpx.TransportError:
            return _problem(502, "Bad Gateway", f"{target} refused or dropped the connection")
        response = StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            background=BackgroundTask(answer.aclose),
        )
        # Raw pairs: repeated fields (set-cookie) survive and bytes stay as the upstream sent them.
        response.raw_headers = [
            (name.lower(), value)
            for name, value in answer.headers.raw
            if name.lower() not in _HOP_BY_HOP or name.lower() == b"content-length"
        ]
        return response

    app = Starlette(routes=[Route("/health", health, methods=["GET", "HEAD"])], lifespan=lifespan)
    # Every other request is proxied, whatever its path holds: a route pattern (`.*`) does not
    # match a path with a newline (%0A) inside, which Starlette would answer with a plain 404.
    app.router.default = request_response(proxy)
    return app


def listening_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP named, so asyncio turns Nagle off on accepted connections (see betfuz_common.cli).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def server_config(app: Starlette) -> uvicorn.Config:
    # The upstream's own date and server headers pass through; uvicorn adding its own would
    # send every proxied response with two of each. The router is the edge: the peer address is
    # the client, whatever X-Forwarded-For it sends (that is appended to, as the ALB does).
    return uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,  # our own logging set-up: the stack's one format, one record per event
        server_header=False,
        date_header=False,
        proxy_headers=False,
        timeout_keep_alive=75,
    )


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    test_port = int(os.environ.get("TEST_PORT", "8443"))
    rules_file = Path(os.environ.get("RULES_FILE", DEFAULT_RULES_FILE))
    # A new stack starts with every rule at its own services: rules a rehearsal left behind
    # (one that was killed before it could restore them) name processes that are gone.
    rules_file.unlink(missing_ok=True)
    rules = Rules(upstreams_from_env(), rules_file)
    app = create_router(rules, test_ports=frozenset({test_port}))
    sockets = [listening_socket(host, port), listening_socket(host, test_port)]
    uvicorn.Server(server_config(app)).run(sockets=sockets)


if __name__ == "__main__":
    main()
