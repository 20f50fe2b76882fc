"""Each service's settings accept exactly what its task definition gives it in production.

The container's Environment and Secrets are rendered from deploy/ecs/service.yaml as
CloudFormation would (deploy/ecs/render.py), secrets filled with strong random values, and fed
to the service's own settings loader with APP_ENV=prod: nothing required may be missing (the
first release's topup refused to start on SELCOM_UTILITY_CODES), and nothing may be set that no
setting reads (a typo, or a variable a refactor stopped reading, is a setting silently at its
default). No container, no AWS: this runs in `make test`.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import betfuz_common.cli
import betfuz_common.logging
from betfuz_common.settings import CommonSettings, load_settings
from deploy.ecs.render import fake_secrets, load_template, render_container
from ledger.config import LedgerSettings
from topup.config import TopupSettings
from treasury.config import TreasurySettings

SETTINGS: dict[str, type[CommonSettings]] = {
    "topup": TopupSettings,
    "treasury": TreasurySettings,
    "ledger": LedgerSettings,
}
TASK_DEFINITIONS = ("TaskDefinition", "MigrationTaskDefinition")
# Read by the shared entry point (betfuz_common/cli.py), not by a settings class. A test below
# checks that cli.py really reads each of them.
READ_BY_THE_CLI = {
    "UVICORN_TIMEOUT_KEEP_ALIVE",  # idle keep-alive seconds, above the ALB's 60
    "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN",  # drain seconds after SIGTERM, below StopTimeout
    "WEB_CONCURRENCY",  # worker processes
    "HOST",  # bind address
    "FORWARDED_ALLOW_IPS",  # proxies trusted for X-Forwarded-*
}
# Read by the shared logging set-up (betfuz_common/logging.py), before any settings load.
READ_BY_LOGGING = {"LOG_FORMAT"}
UTILITY_CODES = (
    "mtn:airtime=MTNTOP,mtn:data=MTNDATA,airtel:airtime=AIRTELTOP,airtel:data=AIRTELDATA,"
    "glo:airtime=GLOTOP,glo:data=GLODATA,9mobile:airtime=ETITOP,9mobile:data=ETIDATA"
)
ROUTES = ";".join(
    f"{carrier}:{kind}=vtpass,selcom" if kind == "airtime" else f"{carrier}:{kind}=vtpass"
    for carrier in ("mtn", "airtel", "glo", "9mobile")
    for kind in ("airtime", "data")
)
# What a real stack update passes (the runbook's bootstrap), per service.
PARAMETERS: dict[str, dict[str, str]] = {
    "topup": {
        "SelcomBaseUrl": "https://apigw.selcommobile.example",
        "SelcomVendor": "BETFUZ",
        "SelcomUtilityCodes": UTILITY_CODES,
        "VtpassBaseUrl": "https://vtpass.example",
        "TopupRoutes": ROUTES,
    },
    "treasury": {"WemaBaseUrl": "https://wema.example"},
    "ledger": {"LedgerContractAddress": "0x" + "ab" * 20, "LedgerChainId": "137"},
}


def rendered(service: str, resource: str) -> tuple[dict[str, str], dict[str, str]]:
    given = {"Service": service, "ImageTag": "v1", "JwtIssuer": "https://p.supabase.co/auth/v1"}
    container = render_container(load_template(), resource, given | PARAMETERS[service])
    return container.environment, container.secrets


def variables_read(settings: type[CommonSettings]) -> set[str]:
    return {name.upper() for name in settings.model_fields}


def production_environ(service: str, resource: str) -> dict[str, str]:
    environment, secrets = rendered(service, resource)
    database = "postgresql://topup:long-random-password@db.internal:5432/betfuz?sslmode=require"
    return environment | fake_secrets(set(secrets), database)


@pytest.mark.parametrize("resource", TASK_DEFINITIONS)
@pytest.mark.parametrize("service", SETTINGS)
def test_the_settings_accept_the_task_definition_in_production(service: str, resource: str) -> None:
    environ = production_environ(service, resource)
    assert environ["APP_ENV"] == "prod"
    settings: Any = load_settings(SETTINGS[service], environ)
    assert settings.is_prod


@pytest.mark.parametrize("resource", TASK_DEFINITIONS)
@pytest.mark.parametrize("service", SETTINGS)
def test_the_task_definition_sets_nothing_that_no_setting_reads(
    service: str, resource: str
) -> None:
    environment, secrets = rendered(service, resource)
    unread = set(environment) | set(secrets)
    unread -= variables_read(SETTINGS[service]) | READ_BY_THE_CLI | READ_BY_LOGGING
    assert not unread, f"{service} {resource}: set, but read by nothing: {sorted(unread)}"


@pytest.mark.parametrize("service", SETTINGS)
def test_every_variable_production_requires_is_in_the_task_definition(service: str) -> None:
    """Required = no default in the settings class, or a dev default that prod refuses."""
    settings = SETTINGS[service]
    required = {name.upper() for name, f in settings.model_fields.items() if f.is_required()}
    for klass in settings.__mro__:
        required |= set(getattr(klass, "__dict__", {}).get("DEV_DEFAULTS", {}))
    environment, secrets = rendered(service, "TaskDefinition")
    missing = required - set(environment) - set(secrets)
    assert not missing, (
        f"{service}: prod requires {sorted(missing)}, the task definition lacks them"
    )


@pytest.mark.parametrize("service", SETTINGS)
def test_the_migration_task_gets_the_same_variables_as_the_service(service: str) -> None:
    # `migrate` loads the whole settings class first, so it needs every required variable too.
    assert rendered(service, "MigrationTaskDefinition") == rendered(service, "TaskDefinition")


def test_without_selcom_utility_codes_topup_refuses_to_start_in_production() -> None:
    """The defect the first release would have shipped; the parameter now carries the codes."""
    environ = production_environ("topup", "TaskDefinition")
    del environ["SELCOM_UTILITY_CODES"]
    with pytest.raises(Exception, match="SELCOM_UTILITY_CODES"):
        load_settings(TopupSettings, environ)


def test_topup_routes_and_vtpass_come_from_the_stack_parameters_and_its_secret() -> None:
    settings: Any = load_settings(TopupSettings, production_environ("topup", "TaskDefinition"))
    assert settings.routes[("mtn", "airtime")] == ("vtpass", "selcom")
    assert settings.routes[("glo", "data")] == ("vtpass",)
    assert settings.vtpass_base_url == "https://vtpass.example"
    _, secrets = rendered("topup", "TaskDefinition")
    assert {"VTPASS_USERNAME", "VTPASS_PASSWORD"} <= set(secrets)


def test_an_unknown_provider_in_the_routes_stops_topup_in_production() -> None:
    environ = production_environ("topup", "TaskDefinition")
    with pytest.raises(Exception, match="TOPUP_ROUTES"):
        load_settings(TopupSettings, {**environ, "TOPUP_ROUTES": ROUTES + ";mtn:data=paystack"})


def test_the_ledger_chain_comes_from_the_stack_parameters() -> None:
    settings: Any = load_settings(LedgerSettings, production_environ("ledger", "TaskDefinition"))
    assert settings.ledger_chain_id == 137
    environment, _ = rendered("ledger", "TaskDefinition")
    assert environment["LEDGER_NETWORK"] == "polygon-amoy"  # the parameter's default


def test_every_variable_allowed_for_logging_is_really_read_there() -> None:
    source = inspect.getsource(betfuz_common.logging)
    assert all(f'environ.get("{name}"' in source for name in READ_BY_LOGGING)


def test_every_variable_allowed_for_the_cli_is_really_read_there() -> None:
    source = inspect.getsource(betfuz_common.cli)
    unread = {name for name in READ_BY_THE_CLI if f'os.environ.get("{name}"' not in source}
    assert not unread, f"cli.py no longer reads {sorted(unread)}: drop them from READ_BY_THE_CLI"
