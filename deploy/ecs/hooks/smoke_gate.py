"""ECS blue/green lifecycle hook: let a deployment past POST_TEST_TRAFFIC_SHIFT only on green smoke.

The deploy workflow runs the Postman smoke collection against the test listener and writes the
verdict to the service's SSM parameter as JSON: {"taskDefinitionArn": ..., "result": "passed" |
"failed", "runUrl": ...}. ECS calls this function until it answers SUCCEEDED (shift production
traffic) or FAILED (roll back). A verdict for another task definition is not this deployment's:
keep waiting. No verdict within SMOKE_TIMEOUT_SECONDS of the revision's creation rolls back, so a
deployment that nobody tested never reaches production.

This file is the source; deploy/ecs/service.yaml inlines it (a test keeps the two identical).
"""

import importlib
import json
import os
import time
from typing import Any

CALLBACK_SECONDS = 30


def decide(verdict: dict[str, Any] | None, task_definition: str, age_seconds: float) -> str:
    """The hook status for a smoke verdict on this revision, given how long it has waited."""
    if verdict is not None and verdict.get("taskDefinitionArn") == task_definition:
        return "SUCCEEDED" if verdict.get("result") == "passed" else "FAILED"
    timeout = float(os.environ.get("SMOKE_TIMEOUT_SECONDS", "1800"))
    return "FAILED" if age_seconds > timeout else "IN_PROGRESS"


def parameter_name(service_arn: str) -> str:
    """/betfuz/<env>/<service>/smoke-result for arn:...:service/<cluster>/betfuz-<env>-<service>."""
    service_name = service_arn.rsplit("/", 1)[-1]
    env, service = service_name.removeprefix("betfuz-").split("-", 1)
    return f"/betfuz/{env}/{service}/smoke-result"


def read_verdict(ssm: Any, name: str) -> dict[str, Any] | None:
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        verdict = json.loads(value)
    except (ssm.exceptions.ParameterNotFound, ValueError):
        return None
    return verdict if isinstance(verdict, dict) else None


def evaluate(event: dict[str, Any], ecs: Any, ssm: Any, now: float) -> dict[str, Any]:
    revision = ecs.describe_service_revisions(
        serviceRevisionArns=[event["targetServiceRevisionArn"]]
    )["serviceRevisions"][0]
    age = now - revision["createdAt"].timestamp()
    verdict = read_verdict(ssm, parameter_name(event["serviceArn"]))
    status = decide(verdict, revision["taskDefinition"], age)
    log = {"revision": revision["serviceRevisionArn"], "verdict": verdict, "status": status}
    print(json.dumps({**log, "ageSeconds": round(age)}))
    if status == "IN_PROGRESS":
        return {"hookStatus": status, "callBackDelay": CALLBACK_SECONDS}
    return {"hookStatus": status}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    boto3 = importlib.import_module("boto3")  # the Lambda runtime provides it; tests pass fakes
    return evaluate(event, boto3.client("ecs"), boto3.client("ssm"), time.time())
