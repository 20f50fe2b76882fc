"""Generating a typed client from an OpenAPI document the way an API consumer does, with
openapi-python-client's command line (so what it prints is what they see), and importing it."""

from __future__ import annotations

import importlib
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from starlette.applications import Starlette

SERVICES = ("topup", "treasury", "ledger")
BASE_URL = "http://betfuz.test"
GENERATOR_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class GeneratedClient:
    service: str
    document: dict[str, Any]  # what the app served, as the generator read it
    package: str  # the generated package's import name
    returncode: int
    printed: str  # everything the generator printed besides its one progress line

    def module(self, name: str) -> ModuleType:
        """A module of the generated package: `models`, `client`, `api.topups.get_topup`."""
        assert self.returncode == 0, f"the {self.service} client was not generated:\n{self.printed}"
        return importlib.import_module(f"{self.package}.{name}")

    def client(self, token: str, app: Starlette) -> Any:
        """The generated AuthenticatedClient, sending its own Bearer header to the app over
        `httpx.AsyncClient(transport=httpx.ASGITransport(app=app))`."""
        return self.module("client").AuthenticatedClient(
            base_url=BASE_URL,
            token=token,
            raise_on_unexpected_status=True,  # a status the document does not list is a failure
            httpx_args={"transport": httpx.ASGITransport(app=app)},
        )


async def served_document(app: Starlette, service: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        answer = await c.get(f"/{service}/openapi.json")
    assert answer.status_code == 200, answer.text
    return answer


def generate(documents: Mapping[str, httpx.Response], root: Path) -> dict[str, GeneratedClient]:
    """A client per served document, into `root/betfuz_<service>_client`; the generators run
    side by side."""
    config = root / "generator.yaml"
    config.write_text(_generator_config())
    runs = {}
    for service, served in documents.items():
        document, output = root / f"{service}.json", root / f"betfuz_{service}_client"
        document.write_bytes(served.content)  # the exact bytes the app served
        command = [
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(document), "--output-path", str(output), "--config", str(config),
            "--meta", "none", "--fail-on-warning",
        ]  # fmt: skip
        runs[service] = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return {
        service: _finish(service, served.json(), root / f"betfuz_{service}_client", runs[service])
        for service, served in documents.items()
    }


@contextmanager
def importable(root: Path) -> Iterator[None]:
    """The packages generated under `root` importable, for as long as the block lasts."""
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(root)):
                del sys.modules[name]


def _generator_config() -> str:
    """The generator formats its output with ruff: this venv's, named by path, since the test
    may run without the venv on PATH (a missing ruff would be a warning)."""
    ruff = shlex.quote(str(Path(sys.executable).parent / "ruff"))
    hooks = [f"{ruff} check . --fix-only --extend-select=I", f"{ruff} format ."]
    return json.dumps({"post_hooks": hooks})  # JSON is YAML, which the generator reads


def _finish(
    service: str, document: dict[str, Any], output: Path, run: subprocess.Popen[str]
) -> GeneratedClient:
    try:
        stdout, stderr = run.communicate(timeout=GENERATOR_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        run.kill()
        stdout, stderr = run.communicate()
        stderr += f"\n(stopped after {GENERATOR_TIMEOUT_SECONDS} s)"
    progress = f"Generating {output}"
    printed = [line for line in stdout.splitlines() if line != progress] + stderr.splitlines()
    return GeneratedClient(service, document, output.name, run.returncode, "\n".join(printed))
