"""Schemathesis against each service's own OpenAPI document, over real HTTP: the service as a
process on the safety database, its provider sandbox as a process. Every generated request,
valid and invalid, must get no 5xx and an answer that its document describes.

Checks run on every case: not_a_server_error, status_code_conformance, content_type_conformance,
response_headers_conformance, response_schema_conformance; on invalid cases also
negative_data_rejection (invalid input must get a 4xx).

Left out, by design (each with its reason):
- Unknown query parameters are stripped before sending: the services ignore them on purpose
  (caches and proxies add cache-busters), so they are not invalid input. The test always sends
  a valid Authorization header. An invalid case whose ONLY invalid parts were those two is no
  longer invalid on the wire, so negative_data_rejection is skipped for it (counted as
  `negative_cases_neutralised`); the other checks still run.
- positive_data_acceptance: a valid body is still refused for reasons no schema can express —
  a webhook without the provider's HMAC (401, docs/DESIGN.md §5), a purchase larger than the wallet
  (402), an Idempotency-Key reused with another body (422, docs/DESIGN.md §6), a second account for
  the same user or BVN (409, docs/DESIGN.md §8). Each of those answers is still checked against the
  document.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok

from betfuz_testing.anvil import DEV_PRIVATE_KEYS, run_anvil
from betfuz_testing.processes import free_port, running
from betfuz_testing.tokens import TEST_JWT_SECRET, bearer
from betfuz_testing.wallets import new_user
from ledger.chain import deploy
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, settings_env
from tests.safety import figures

EXAMPLES_PER_OPERATION = 40
COMMON_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SELCOM_KEY, SELCOM_SECRET = "contract-selcom-key", "contract-selcom-secret"


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    openapi_path: str


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract")


@pytest.fixture(scope="module")
def topup_target(safety_database_url: str, logs: Path) -> Iterator[Target]:
    api_port, sandbox_port = free_port(), free_port()
    common = {"SELCOM_API_KEY": SELCOM_KEY, "SELCOM_API_SECRET": SELCOM_SECRET}
    with ExitStack() as stack:
        stack.enter_context(
            running(
                "sandboxes.selcom",
                env={
                    **common,
                    "API_BASE_URL": f"http://127.0.0.1:{api_port}",
                    "SANDBOX_SELCOM_FAST": "1",
                },
                port=sandbox_port,
                log_path=logs / "selcom.log",
            )
        )
        api = stack.enter_context(
            running(
                "topup",
                env={
                    **common,
                    "APP_ENV": "test",
                    "DATABASE_URL": safety_database_url,
                    "JWT_SECRET": TEST_JWT_SECRET,
                    "SELCOM_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
                    "API_BASE_URL": f"http://127.0.0.1:{api_port}",
                    "SELCOM_TIMEOUT_SECONDS": "1",
                    "TOPUP_RECONCILE_INTERVAL_SECONDS": "0",
                },
                port=api_port,
                log_path=logs / "topup.log",
                health_path="/topup/health",
            )
        )
        yield Target("topup", api, "/topup/openapi.json")


@pytest.fixture(scope="module")
def treasury_target(safety_database_url: str, logs: Path) -> Iterator[Target]:
    api_port = free_port()
    sandbox_env = {
        "WEMA_API_KEY": WEMA_KEY,
        "WEMA_SECRET_KEY": WEMA_SECRET,
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
    }
    with running("sandboxes.wema", env=sandbox_env, log_path=logs / "wema.log") as wema:
        env = {**settings_env(safety_database_url), "WEMA_BASE_URL": wema}
        with running(
            "treasury",
            env={**env, "WEMA_TIMEOUT_SECONDS": "2"},
            port=api_port,
            log_path=logs / "treasury.log",
            health_path="/treasury/health",
        ) as api:
            yield Target("treasury", api, "/treasury/openapi.json")


@pytest.fixture(scope="module")
def ledger_target(safety_database_url: str, logs: Path) -> Iterator[Target]:
    """The ledger on a real chain with BetLedger deployed, so `verify` reads a real contract."""
    with run_anvil() as node:
        address = asyncio.run(deploy(node.rpc_url, DEV_PRIVATE_KEYS[0]))
        env = {
            "APP_ENV": "test",
            "DATABASE_URL": safety_database_url,
            "JWT_SECRET": TEST_JWT_SECRET,
            "POLYGON_RPC_URL": node.rpc_url,
            "LEDGER_PRIVATE_KEY": DEV_PRIVATE_KEYS[0],
            "LEDGER_CONTRACT_ADDRESS": address,
            "LEDGER_CHAIN_ID": str(node.chain_id),
            "LEDGER_WORKER_ENABLED": "false",
        }
        with running(
            "ledger", env=env, log_path=logs / "ledger.log", health_path="/ledger/health"
        ) as api:
            yield Target("ledger", api, "/ledger/openapi.json")


def exercise(target: Target, auth: dict[str, str]) -> Counter[str]:
    """Every operation, valid and invalid cases; returns counts by operation and status."""
    schema = schemathesis.openapi.from_url(target.base_url + target.openapi_path)
    seen: Counter[str] = Counter()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be valid
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(target, operation, mode, auth, seen)
    return seen


def run_operation(
    target: Target,
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    auth: dict[str, str],
    seen: Counter[str],
) -> None:
    checks = [*COMMON_CHECKS]
    declared = {parameter.name for parameter in operation.query}
    declared_headers = {parameter.name.lower() for parameter in operation.headers}
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case[Any]) -> None:
        wanted = checks
        if neutralised(case, declared, declared_headers):
            # What made this case invalid is gone from the wire (see the module docstring):
            # every other check still applies to the request actually sent.
            wanted = COMMON_CHECKS
            seen["negative_cases_neutralised"] += 1
        response = case.call(base_url=target.base_url, headers=auth, timeout=30)
        seen[f"{operation.label} {mode.value} → {response.status_code}"] += 1
        seen["cases"] += 1
        case.validate_response(response, checks=wanted)

    try:
        check()
    except Unsatisfiable:
        # Only an operation with nothing to get wrong (no parameters, no body) has no invalid
        # cases, e.g. GET /health.
        assert mode is GenerationMode.NEGATIVE
        seen["operations_with_no_invalid_form"] += 1


def neutralised(
    case: schemathesis.Case[Any], declared: set[str], declared_headers: set[str]
) -> bool:
    """Strip unknown query parameters; True when a negative case's only invalid parts were
    those parameters or a missing/invalid Authorization header, which this test always sends.
    Undeclared extra headers are not invalid (HTTP allows them), so they do not count."""
    stripped = False
    if case.query:
        kept = {k: v for k, v in case.query.items() if k in declared}
        stripped = kept != case.query
        case.query = kept
    if case.meta is None or not case.meta.generation.mode.is_negative:
        return False
    negated = {loc for loc, info in case.meta.components.items() if info.mode.is_negative}
    other_headers = {
        h
        for h in (case.headers or {})
        if h.lower() != "authorization" and h.lower() in declared_headers
    }
    header_only_auth = ParameterLocation.HEADER in negated and not other_headers
    if negated <= {ParameterLocation.QUERY, ParameterLocation.HEADER}:
        return (ParameterLocation.QUERY not in negated or stripped) and (
            ParameterLocation.HEADER not in negated or header_only_auth
        )
    return False


def record(target: Target, seen: Counter[str]) -> None:
    server_errors = sum(n for k, n in seen.items() if k.endswith(("→ 500", "→ 503")))
    figures.record(
        f"openapi_contract_{target.name}",
        {
            "test": f"tests/safety/test_openapi_contract.py::test_{target.name}_"
            "answers_every_generated_request_as_its_openapi_document_says",
            "cases": seen["cases"],
            "examples_per_operation_and_mode": EXAMPLES_PER_OPERATION,
            "server_errors": server_errors,
            "by_operation_and_status": {k: n for k, n in sorted(seen.items()) if k != "cases"},
        },
    )


@pytest.fixture
async def rich_user(safety_pool: asyncpg.Pool) -> str:
    return await new_user(safety_pool, Decimal("1000000000"))


@pytest.fixture
async def poor_user(safety_pool: asyncpg.Pool) -> str:
    return await new_user(safety_pool, Decimal(0))


def test_topup_answers_every_generated_request_as_its_openapi_document_says(
    topup_target: Target, rich_user: str
) -> None:
    seen = exercise(topup_target, bearer(rich_user))
    record(topup_target, seen)
    assert seen["cases"] > 0


def test_treasury_answers_every_generated_request_as_its_openapi_document_says(
    treasury_target: Target, poor_user: str
) -> None:
    seen = exercise(treasury_target, bearer(poor_user))
    record(treasury_target, seen)
    assert seen["cases"] > 0


@pytest.fixture
async def ledger_entries(safety_pool: asyncpg.Pool) -> None:
    """Confirmed and pending entries, so the list, read and export operations return data."""
    await safety_pool.execute(
        """INSERT INTO ledger.ledger_entries (bet_slip_id, bet_hash, win_amount, status, tx_hash,
               block_number, confirmed_at)
           SELECT 'bet_contract_' || g, encode(sha256(('bet_contract_' || g)::bytea), 'hex'),
                  1000000 + g, CASE WHEN g % 3 = 0 THEN 'pending' ELSE 'confirmed' END,
                  CASE WHEN g % 3 = 0 THEN NULL ELSE '0x' || repeat('b', 64) END,
                  CASE WHEN g % 3 = 0 THEN NULL ELSE g END,
                  CASE WHEN g % 3 = 0 THEN NULL ELSE now() END
             FROM generate_series(1, 30) AS g
           ON CONFLICT (bet_slip_id) DO NOTHING"""
    )


@pytest.mark.usefixtures("ledger_entries")
def test_ledger_answers_every_generated_request_as_its_openapi_document_says(
    ledger_target: Target,
) -> None:
    seen = exercise(ledger_target, bearer("compliance-officer", ["compliance"]))
    record(ledger_target, seen)
    assert seen["cases"] > 0
