"""The alert rules and the Grafana dashboard name only metrics the services really export.

The known names come from the services' own registries: each app is built with dev settings
(no database, no lifespan) and its registry's collectors are read, with the sample suffixes
Prometheus scrapes (`_total`, `_created`, `_bucket`, `_count`, `_sum`). The operations metrics
come from the shared frame itself, on an app built with `operations=` as every service's will
be. Every PromQL expression of a rule or a panel is reduced to the metric names it selects and
the label names it matches on, and any name no registry exports fails the test: a renamed
counter would otherwise leave an alert silently empty, forever.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

import ledger.app
import topup.app
import treasury.app
from betfuz_common.api import Api
from betfuz_common.app import ServiceApp, create_service_app
from betfuz_common.ops.domain import Operations
from betfuz_common.settings import CommonSettings, load_settings
from ledger.config import LedgerSettings
from topup.config import TopupSettings
from treasury.config import TreasurySettings

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
# Labels the scrape adds to every series (the ECS service discovery adds the first two).
SCRAPE_LABELS = {"instance", "job", "le", "quantile"}
# PromQL's words and functions: never metric names.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@asynccontextmanager
async def _nothing(_: Starlette) -> AsyncIterator[None]:
    yield


def _apps() -> dict[str, Starlette]:
    dev: dict[str, str] = {"APP_ENV": "dev"}
    ops_frame = create_service_app(
        ServiceApp(
            prefix="/frame",
            api=Api(title="frame", description="frame", tag="frame"),
            errors={},
            lifespan=_nothing,
            settings=load_settings(CommonSettings, dev),
            operations=Operations("topup", []),
        )
    )
    return {
        "topup": topup.app.create_app(load_settings(TopupSettings, dev)),
        "treasury": treasury.app.create_app(load_settings(TreasurySettings, dev)),
        "ledger": ledger.app.create_app(load_settings(LedgerSettings, dev)),
        "ops frame": ops_frame,
    }


def _exported(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Every series name the registry exposes, with the label names it carries."""
    labels_by_family: dict[str, set[str]] = {}
    # The collectors' declared label names: a labelled metric with no child yet has no sample
    # to read them from (private attributes of prometheus_client, read in a test only).
    for collector in list(registry._collector_to_names):
        names: Any = registry._collector_to_names[collector]
        labelnames = set(getattr(collector, "_labelnames", ()))
        for name in names:
            labels_by_family[name] = labelnames
    exported: dict[str, set[str]] = {}
    for family in registry.collect():
        for suffix in SUFFIXES[family.type]:
            name = family.name + suffix
            exported[name] = labels_by_family.get(name, set())
    return exported


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for app in _apps().values():
        for name, labels in _exported(app.state.metrics.registry).items():
            names.setdefault(name, set()).update(labels)
    return names


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def selectors(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(metric name, label names matched) for each series an expression selects."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    text = _strip_strings(expr)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries: [5m], [1h:1m]
    # Grouping clauses name labels, not metrics.
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    pattern = r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?"
    for match in re.finditer(pattern, text):
        name, matchers, call = match.group(1), match.group(2), match.group(3)
        if call and not matchers:
            continue  # a function: rate(, sum(, histogram_quantile(
        if name.lower() in KEYWORDS:
            continue
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers or ""))
        yield name, labels


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def panel_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def test_the_expression_reader_finds_metrics_and_their_matchers_but_no_functions() -> None:
    expr = (
        'sum by (service, le) (rate(http_request_duration_seconds_bucket{route=~"/x"}[5m]))'
        " / ignoring(le) max(up) > 1e-9 and on (service) time() - ops_cases_open offset 5m"
    )
    assert dict(selectors(expr)) == {
        "http_request_duration_seconds_bucket": {"route"},
        "up": set(),
        "ops_cases_open": set(),
    }


def test_the_registries_hold_every_service_metric_with_its_scraped_suffixes(
    exported: dict[str, set[str]],
) -> None:
    for name in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "topup_refunds_total",
        "treasury_deposits_total",
        "ledger_entries_set_aside_total",
        "ops_cases_open",
        "ops_oldest_open_case_age_seconds",
        "ops_actions_total",
    ):
        assert name in exported, name
    assert exported["ops_actions_total"] == {"service", "action", "status"}


@pytest.mark.parametrize(
    ("where", "expr"),
    [*rule_expressions(), *panel_expressions()],
    ids=[where for where, _ in [*rule_expressions(), *panel_expressions()]],
)
def test_every_metric_a_rule_or_panel_names_is_exported_with_its_labels(
    where: str, expr: str, exported: dict[str, set[str]]
) -> None:
    named = list(selectors(expr))
    assert named, f"{where}: no metric found in {expr!r}"
    for name, labels in named:
        assert name in exported, f"{where}: {name} is exported by no service"
        unknown = labels - exported[name] - SCRAPE_LABELS
        assert not unknown, f"{where}: {name} has no label {sorted(unknown)}"


def test_every_alert_says_how_long_how_bad_what_and_where_to_look() -> None:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    for rule in (rule for group in groups for rule in group["rules"]):
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description", "runbook"} <= rule["annotations"].keys(), rule["alert"]


def test_the_dashboard_imports_with_its_uid_and_its_service_and_instance_filters() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "betfuz-payments"
    assert dashboard["title"]
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "service", "instance"} <= variables
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool: make observability-deps")
def test_every_panel_expression_is_promql_that_promtool_accepts(tmp_path: Path) -> None:
    rules = [
        {"record": f"panel:{index}", "expr": _with_values(expr)}
        for index, (_, expr) in enumerate(panel_expressions())
    ]
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    checked = subprocess.run(  # noqa: S603 - promtool from PATH on our own file
        ["promtool", "check", "rules", str(path)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _with_values(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr.replace("$service", ".*").replace("$instance", ".*")
