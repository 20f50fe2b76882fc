"""The smoke-gate lifecycle hook decides from the recorded verdict, with fake ECS and SSM."""

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HOOK = Path(__file__).resolve().parents[2] / "deploy" / "ecs" / "hooks" / "smoke_gate.py"
SERVICE_ARN = "arn:aws:ecs:eu-west-1:123456789012:service/betfuz-prod/betfuz-prod-topup"
REVISION_ARN = (
    "arn:aws:ecs:eu-west-1:123456789012:service-revision/betfuz-prod/betfuz-prod-topup/42"
)
TASK_DEFINITION = "arn:aws:ecs:eu-west-1:123456789012:task-definition/betfuz-prod-topup:7"
CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke_gate", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = load_hook()


class ParameterNotFoundError(Exception):
    pass


class FakeSsm:
    class exceptions:
        ParameterNotFound = ParameterNotFoundError

    def __init__(self, parameters: dict[str, str]) -> None:
        self.parameters = parameters

    def get_parameter(self, Name: str) -> dict[str, Any]:
        if Name not in self.parameters:
            raise ParameterNotFoundError(Name)
        return {"Parameter": {"Name": Name, "Value": self.parameters[Name]}}


class FakeEcs:
    def describe_service_revisions(self, serviceRevisionArns: list[str]) -> dict[str, Any]:
        assert serviceRevisionArns == [REVISION_ARN]
        revision = {"serviceRevisionArn": REVISION_ARN, "taskDefinition": TASK_DEFINITION}
        return {"serviceRevisions": [revision | {"createdAt": CREATED}]}


def run_hook(parameters: dict[str, str], minutes_later: float = 2) -> dict[str, Any]:
    event = {"serviceArn": SERVICE_ARN, "targetServiceRevisionArn": REVISION_ARN}
    now = CREATED.timestamp() + minutes_later * 60
    result: dict[str, Any] = hook.evaluate(event, FakeEcs(), FakeSsm(parameters), now)
    return result


def verdict(result: str, task_definition: str = TASK_DEFINITION) -> dict[str, str]:
    value = {"taskDefinitionArn": task_definition, "result": result, "runUrl": "https://ci/run/1"}
    return {"/betfuz/prod/topup/smoke-result": json.dumps(value)}


def test_production_traffic_moves_when_the_smoke_tests_passed_for_this_revision() -> None:
    assert run_hook(verdict("passed")) == {"hookStatus": "SUCCEEDED"}


def test_the_deployment_rolls_back_when_the_smoke_tests_failed() -> None:
    assert run_hook(verdict("failed")) == {"hookStatus": "FAILED"}


def test_a_verdict_about_another_task_definition_keeps_the_hook_waiting() -> None:
    stale = verdict("passed", task_definition=TASK_DEFINITION.replace(":7", ":6"))
    assert run_hook(stale) == {"hookStatus": "IN_PROGRESS", "callBackDelay": 30}


def test_no_parameter_yet_keeps_the_hook_waiting() -> None:
    assert run_hook({})["hookStatus"] == "IN_PROGRESS"


def test_an_unreadable_verdict_keeps_the_hook_waiting() -> None:
    assert run_hook({"/betfuz/prod/topup/smoke-result": "not json"})["hookStatus"] == "IN_PROGRESS"


def test_a_deployment_nobody_tested_rolls_back_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMOKE_TIMEOUT_SECONDS", "600")
    assert run_hook({}, minutes_later=9)["hookStatus"] == "IN_PROGRESS"
    assert run_hook({}, minutes_later=11) == {"hookStatus": "FAILED"}


@pytest.mark.parametrize(
    ("service", "parameter"),
    [
        ("betfuz-prod-topup", "/betfuz/prod/topup/smoke-result"),
        ("betfuz-staging-treasury", "/betfuz/staging/treasury/smoke-result"),
    ],
)
def test_the_verdict_parameter_follows_from_the_service_name(service: str, parameter: str) -> None:
    arn = f"arn:aws:ecs:eu-west-1:123456789012:service/cluster/{service}"
    assert hook.parameter_name(arn) == parameter
