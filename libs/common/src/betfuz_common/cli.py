"""`python -m <service> [serve|migrate|...]`: one entry point shape for every service."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.resources
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from betfuz_common.db import COMMON_MIGRATIONS, Migration, discover, migrate_dsn
from betfuz_common.http_protocol import CoalescingHttpToolsProtocol
from betfuz_common.logging import configure_logging, get_logger
from betfuz_common.settings import CommonSettings, SettingsError, load_settings

S = TypeVar("S", bound=CommonSettings)
Command = Callable[[S, argparse.Namespace], int]

# Longer than the load balancer's 60 s idle timeout, so the balancer closes idle connections
# first and never sends a request down a socket we are closing.
KEEP_ALIVE_SECONDS = 75
GRACEFUL_SHUTDOWN_SECONDS = 25


@dataclass
class ServiceDefinition(Generic[S]):
    """What a service's `__main__` hands the shared CLI. `name` is its package and its schema;
    its migrations ship inside the package (`<name>/migrations`), after the shared ones."""

    name: str
    settings_cls: type[S]
    create_app: Callable[[S], Starlette]
    commands: Mapping[str, tuple[str, Command[S]]] = field(default_factory=dict)

    @property
    def schema(self) -> str:
        return self.name

    def migrations(self) -> list[Migration]:
        own = Path(str(importlib.resources.files(self.name) / "migrations"))
        return discover([("common", COMMON_MIGRATIONS), (self.name, own)])


def run(service: ServiceDefinition[S], argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {service.name}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve HTTP on $PORT (the default)")
    sub.add_parser("migrate", help=f"apply the {service.schema} schema's migrations")
    for name, (help_text, _) in service.commands.items():
        sub.add_parser(name, help=help_text, add_help=True)
    args, extra = parser.parse_known_args(argv)
    args.extra = extra
    try:
        settings = load_settings(service.settings_cls, os.environ)
    except SettingsError as exc:
        print(f"{service.name}: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    command = args.command or "serve"
    if command == "serve":
        return _serve(service, settings)
    if command == "migrate":
        applied = asyncio.run(
            migrate_dsn(
                settings.database_url.get_secret_value(), service.schema, service.migrations()
            )
        )
        get_logger(service.name).info("migrations_done", applied=len(applied))
        return 0
    return service.commands[command][1](settings, args)


def _serve(service: ServiceDefinition[S], settings: S) -> int:
    # One event loop uses one core. WEB_CONCURRENCY > 1 runs that many worker processes (each
    # its own pool and background loops, all safe across replicas) for hosts with more cores.
    workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
    app: Any = service.create_app(settings)
    if workers > 1:
        # Each worker is a new interpreter (spawned): it can only be told where the factory and
        # the settings class the service handed us live, and rebuild the app from there.
        os.environ[_FACTORY_ENV] = _import_path(service.create_app)
        os.environ[_SETTINGS_ENV] = _import_path(service.settings_cls)
        app = f"{__name__}:{worker_app.__name__}"
    config = uvicorn.Config(
        app,
        factory=workers > 1,
        workers=workers,
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104 - containers listen on all interfaces
        port=settings.port,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,  # httptools, each answer in one write
        log_config=None,
        access_log=False,
        proxy_headers=True,
        # Behind the load balancer only it can reach the task, so the image trusts "*" there.
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        timeout_keep_alive=int(os.environ.get("UVICORN_TIMEOUT_KEEP_ALIVE", KEEP_ALIVE_SECONDS)),
        timeout_graceful_shutdown=int(
            os.environ.get("UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN", GRACEFUL_SHUTDOWN_SECONDS)
        ),
    )
    sockets = [_listen(config.host, config.port)]
    if settings.metrics_port is not None:
        # A second listener for /metrics only (the app answers it on no other port); the load
        # balancer's target group never points at it.
        sockets.append(_listen(config.host, settings.metrics_port))
    if workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        uvicorn.Server(config).run(sockets=sockets)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket. The protocol is named on purpose: asyncio turns Nagle off on the
    connections it accepts only when the socket says IPPROTO_TCP, and without that a
    keep-alive answer waits ~40 ms for the delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


_FACTORY_ENV = "BETFUZ_APP_FACTORY"
_SETTINGS_ENV = "BETFUZ_SETTINGS_CLASS"


def _import_path(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _imported(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def worker_app() -> Starlette:
    """App factory each worker process calls: the service's own factory and settings class, as
    `_serve` recorded them, with the settings reloaded from the environment it inherited."""
    settings = load_settings(_imported(os.environ[_SETTINGS_ENV]), os.environ)
    configure_logging(settings.log_level)
    app: Starlette = _imported(os.environ[_FACTORY_ENV])(settings)
    return app
