"""The smoke-gate lifecycle hook runs one smoke task per service revision and answers from its
exit code, with fakes of ECS and SSM that behave as the APIs do."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HOOK = Path(__file__).resolve().parents[2] / "deploy" / "ecs" / "hooks" / "smoke_gate.py"
CLUSTER = "betfuz-prod"
SERVICE_ARN = f"arn:aws:ecs:eu-west-1:123456789012:service/{CLUSTER}/betfuz-prod-topup"
REVISION_ARN = (
    f"arn:aws:ecs:eu-west-1:123456789012:service-revision/{CLUSTER}/betfuz-prod-topup/4980306466"
)
FORCED_REDEPLOY_ARN = REVISION_ARN.replace("4980306466", "5123900001")
PARAMETER = "/betfuz/prod/topup/smoke-result"
ENVIRON = {
    "SMOKE_SUBNETS": "subnet-a,subnet-b",
    "SMOKE_SECURITY_GROUP": "sg-smoke",
    "SMOKE_TIMEOUT_SECONDS": "900",
}
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke_gate", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = load_hook()


class FakeEcs:
    """RunTask / ListTasks / DescribeTasks / StopTask over an in-memory set of tasks."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.run_requests: list[dict[str, Any]] = []
        self.stopped: list[str] = []

    def run_task(self, **request: Any) -> dict[str, Any]:
        self.run_requests.append(request)
        arn = f"arn:aws:ecs:eu-west-1:123456789012:task/{CLUSTER}/t{len(self.run_requests)}"
        self.tasks[arn] = {
            "taskArn": arn,
            "lastStatus": "PROVISIONING",
            "desiredStatus": "RUNNING",
            "startedBy": request["startedBy"],
            "createdAt": datetime.fromtimestamp(T0, UTC),
            "containers": [{"name": "smoke"}],
        }
        return {"tasks": [self.tasks[arn]], "failures": []}

    def list_tasks(self, cluster: str, startedBy: str, desiredStatus: str) -> dict[str, Any]:
        assert cluster == CLUSTER
        return {
            "taskArns": [
                arn
                for arn, task in self.tasks.items()
                if task["startedBy"] == startedBy and task["desiredStatus"] == desiredStatus
            ]
        }

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        assert cluster == CLUSTER
        return {"tasks": [self.tasks[arn] for arn in tasks]}

    def stop_task(self, cluster: str, task: str, reason: str) -> dict[str, Any]:
        self.stopped.append(task)
        self.finish(task, exit_code=None, reason=f"Task stopped by user: {reason}")
        return {"task": self.tasks[task]}

    def finish(
        self, arn: str, exit_code: int | None, reason: str = "Essential container exited"
    ) -> None:
        self.tasks[arn] |= {
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stoppedReason": reason,
        }
        self.tasks[arn]["containers"] = [{"name": "smoke", "exitCode": exit_code}]


class FakeSsm:
    def __init__(self) -> None:
        self.parameters: dict[str, str] = {}

    def put_parameter(self, Name: str, Value: str, Type: str, Overwrite: bool) -> dict[str, Any]:
        assert Type == "String"
        assert Overwrite is True
        self.parameters[Name] = Value
        return {"Version": 1}

    def verdict(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.parameters[PARAMETER])
        return value


def aws_event(
    revision: str = REVISION_ARN, hook_details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The event as ECS sends it to a POST_TEST_TRAFFIC_SHIFT hook."""
    event: dict[str, Any] = {
        "executionDetails": {
            "testTrafficWeights": {},
            "productionTrafficWeights": {},
            "serviceArn": SERVICE_ARN,
            "targetServiceRevisionArn": revision,
        },
        "executionId": "exec-1",
        "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
        "resourceArn": "arn:aws:ecs:eu-west-1:123456789012:service-deployment/betfuz-prod/x/y",
    }
    if hook_details is not None:
        event["hookDetails"] = hook_details
    return event


def call(ecs: FakeEcs, ssm: FakeSsm, event: dict[str, Any], minutes: float = 0) -> dict[str, Any]:
    answer: dict[str, Any] = hook.evaluate(event, ecs, ssm, T0 + minutes * 60, ENVIRON)
    return answer


def test_the_first_call_starts_one_smoke_task_inside_the_vpc_and_waits() -> None:
    ecs, ssm = FakeEcs(), FakeSsm()
    answer = call(ecs, ssm, aws_event())
    assert answer["hookStatus"] == "IN_PROGRESS"
    assert answer["callBackDelay"] == 30
    [request] = ecs.run_requests
    assert request["taskDefinition"] == "betfuz-prod-topup-smoke"
    assert request["startedBy"] == "smoke-4980306466"
    assert request["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroups": ["sg-smoke"],
        "assignPublicIp": "DISABLED",
    }
    assert ssm.verdict()["result"] == "running"
    assert ssm.verdict()["serviceRevisionArn"] == REVISION_ARN


def test_production_traffic_moves_when_the_smoke_task_exits_zero() -> None:
    ecs, ssm = FakeEcs(), FakeSsm()
    first = call(ecs, ssm, aws_event())
    [task] = ecs.tasks
    ecs.finish(task, exit_code=0)
    answer = call(ecs, ssm, aws_event(hook_details=first["hookDetails"]), minutes=3)
    assert answer == {"hookStatus": "SUCCEEDED"}
    assert len(ecs.run_requests) == 1
    assert ssm.verdict() | {"stoppedReason": ""} == {
        "serviceRevisionArn": REVISION_ARN,
        "result": "passed",
        "smokeTask": task,
        "stoppedReason": "",
    }


@pytest.mark.parametrize("exit_code", [1, 2, None])
def test_the_deployment_rolls_back_when_the_smoke_task_fails_or_never_ran(
    exit_code: int | None,
) -> None:
    ecs, ssm = FakeEcs(), FakeSsm()
    first = call(ecs, ssm, aws_event())
    [task] = ecs.tasks
    ecs.finish(
        task, exit_code=exit_code, reason="CannotPullContainerError" if exit_code is None else "x"
    )
    answer = call(ecs, ssm, aws_event(hook_details=first["hookDetails"]), minutes=1)
    assert answer == {"hookStatus": "FAILED"}
    assert ssm.verdict()["result"] == "failed"


def test_a_smoke_run_still_going_after_the_timeout_is_stopped_and_rolls_back() -> None:
    ecs, ssm = FakeEcs(), FakeSsm()
    details = call(ecs, ssm, aws_event())["hookDetails"]
    assert (
        call(ecs, ssm, aws_event(hook_details=details), minutes=14)["hookStatus"] == "IN_PROGRESS"
    )
    assert call(ecs, ssm, aws_event(hook_details=details), minutes=16) == {"hookStatus": "FAILED"}
    assert ecs.stopped == list(ecs.tasks)
    assert ssm.verdict()["result"] == "timed-out"


def test_a_call_without_hook_details_finds_the_run_already_started_for_the_revision() -> None:
    ecs, ssm = FakeEcs(), FakeSsm()
    call(ecs, ssm, aws_event())
    assert call(ecs, ssm, aws_event(), minutes=1)["hookStatus"] == "IN_PROGRESS"
    [task] = ecs.tasks
    ecs.finish(task, exit_code=0)
    assert call(ecs, ssm, aws_event(), minutes=2) == {"hookStatus": "SUCCEEDED"}
    assert len(ecs.run_requests) == 1


def test_a_forced_redeployment_of_the_same_task_definition_is_smoke_tested_again() -> None:
    ecs, ssm = FakeEcs(), FakeSsm()
    first = call(ecs, ssm, aws_event())
    ecs.finish(next(iter(ecs.tasks)), exit_code=0)
    assert call(ecs, ssm, aws_event(hook_details=first["hookDetails"]))["hookStatus"] == "SUCCEEDED"
    # Same task definition, new service revision: an earlier pass is not this revision's verdict,
    # even when ECS hands back hook details from the earlier deployment.
    again = call(ecs, ssm, aws_event(FORCED_REDEPLOY_ARN, hook_details=first["hookDetails"]))
    assert again["hookStatus"] == "IN_PROGRESS"
    assert [r["startedBy"] for r in ecs.run_requests] == ["smoke-4980306466", "smoke-5123900001"]
    assert ssm.verdict()["serviceRevisionArn"] == FORCED_REDEPLOY_ARN


def test_the_flat_event_shape_is_read_as_well() -> None:
    ecs, ssm = FakeEcs(), FakeSsm()
    flat = {"serviceArn": SERVICE_ARN, "targetServiceRevisionArn": REVISION_ARN}
    assert call(ecs, ssm, flat)["hookStatus"] == "IN_PROGRESS"
    assert ecs.run_requests[0]["startedBy"] == "smoke-4980306466"


def test_a_smoke_task_that_cannot_start_fails_the_invocation_which_rolls_back() -> None:
    ecs, ssm = FakeEcs(), FakeSsm()
    ecs.run_task = lambda **_: {"tasks": [], "failures": [{"reason": "RESOURCE:ENI"}]}  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="did not start"):
        call(ecs, ssm, aws_event())


@pytest.mark.parametrize(
    ("service", "parameter"),
    [
        ("betfuz-prod-topup", "/betfuz/prod/topup/smoke-result"),
        ("betfuz-staging-treasury", "/betfuz/staging/treasury/smoke-result"),
    ],
)
def test_the_verdict_parameter_follows_from_the_service_name(service: str, parameter: str) -> None:
    arn = f"arn:aws:ecs:eu-west-1:123456789012:service/cluster/{service}"
    assert hook.names(arn) == ("cluster", service, parameter)
