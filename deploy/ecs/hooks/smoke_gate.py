"""ECS blue/green lifecycle hook: production traffic moves to green only if its smoke tests pass.

ECS invokes this at POST_TEST_TRAFFIC_SHIFT, when the test listener (8443) already points at the
green revision, and again after every IN_PROGRESS answer. The hook runs the smoke collection from
inside the VPC, as a one-off Fargate task of the `<service>-smoke` family (the smoke runner image:
newman, the Postman collections, and a token minted from the smoke identity's own key), then
answers from that task's exit code: 0 is SUCCEEDED (ECS moves production), anything else FAILED
(ECS rolls back). A smoke run that is still going after SMOKE_TIMEOUT_SECONDS is stopped and
FAILED, so nothing untested ever reaches production.

Every service revision gets its own run: a forced redeployment of the same task definition is a
new revision and is tested again. The run is remembered in hookDetails (ECS hands back what an
IN_PROGRESS answer returned) and found again by its startedBy tag when that is missing, so a
retried invocation never starts a second run. The verdict is written, keyed by the revision, to
SSM /betfuz/<env>/<service>/smoke-result for the deploy workflow (and people) to read.

The event's fields are read from `executionDetails`, as in AWS's sample hooks; a flat event with
the same fields is accepted too. This file is the source; deploy/ecs/platform.yaml inlines it in
SmokeGateFunction (a test keeps the two identical). The rehearsal (`make rehearse`) calls
`evaluate` with local stand-ins for ECS and SSM.
"""

import importlib
import json
import os
import time
from typing import Any

CALLBACK_SECONDS = 30


def deployment_fields(event: dict[str, Any]) -> tuple[str, str]:
    """(serviceArn, targetServiceRevisionArn) from executionDetails, or from a flat event."""
    details = event.get("executionDetails") or event
    return details["serviceArn"], details["targetServiceRevisionArn"]


def names(service_arn: str) -> tuple[str, str, str]:
    """(cluster, service name, SSM verdict parameter) for
    arn:...:service/<cluster>/betfuz-<env>-<service>."""
    cluster, service_name = service_arn.split(":service/", 1)[1].split("/", 1)
    env, service = service_name.removeprefix("betfuz-").split("-", 1)
    return cluster, service_name, f"/betfuz/{env}/{service}/smoke-result"


def started_by(revision_arn: str) -> str:
    """The run's tag for this revision (ECS allows 36 characters; the revision id is digits)."""
    return ("smoke-" + revision_arn.rsplit("/", 1)[-1])[:36]


def run_status(task: dict[str, Any]) -> str:
    """running, passed or failed for a smoke task as DescribeTasks reports it."""
    if task.get("lastStatus") != "STOPPED":
        return "running"
    codes = [c.get("exitCode") for c in task.get("containers", [])]
    return "passed" if codes and all(code == 0 for code in codes) else "failed"


class SmokeGate:
    def __init__(self, ecs: Any, ssm: Any, now: float, environ: dict[str, str]) -> None:
        self.ecs, self.ssm, self.now, self.environ = ecs, ssm, now, environ
        self.timeout = float(environ.get("SMOKE_TIMEOUT_SECONDS", "900"))

    def evaluate(self, event: dict[str, Any]) -> dict[str, Any]:
        service_arn, revision = deployment_fields(event)
        cluster, service_name, parameter = names(service_arn)
        run = dict(event.get("hookDetails") or {})
        if run.get("revision") != revision or "task" not in run:
            run = self.find_run(cluster, revision) or self.start_run(
                cluster, service_name, revision
            )
        [task] = self.ecs.describe_tasks(cluster=cluster, tasks=[run["task"]])["tasks"]
        status = run_status(task)
        if status == "running" and self.now - float(run["startedAt"]) > self.timeout:
            self.ecs.stop_task(cluster=cluster, task=run["task"], reason="smoke timed out")
            status = "timed-out"
        verdict = {"serviceRevisionArn": revision, "result": status, "smokeTask": run["task"]}
        if status != "running":
            verdict["stoppedReason"] = task.get("stoppedReason", "")
        self.ssm.put_parameter(
            Name=parameter,
            Value=json.dumps(verdict),
            Type="String",
            Overwrite=True,
        )
        print(json.dumps({**verdict, "ageSeconds": round(self.now - float(run["startedAt"]))}))
        if status == "running":
            return {
                "hookStatus": "IN_PROGRESS",
                "callBackDelay": CALLBACK_SECONDS,
                "hookDetails": run,
            }
        return {"hookStatus": "SUCCEEDED" if status == "passed" else "FAILED"}

    def find_run(self, cluster: str, revision: str) -> dict[str, Any] | None:
        for desired in ("RUNNING", "STOPPED"):
            arns = self.ecs.list_tasks(
                cluster=cluster, startedBy=started_by(revision), desiredStatus=desired
            )["taskArns"]
            if arns:
                [task] = self.ecs.describe_tasks(cluster=cluster, tasks=arns[:1])["tasks"]
                started = task.get("createdAt")
                at = started.timestamp() if hasattr(started, "timestamp") else self.now
                return {"revision": revision, "task": arns[0], "startedAt": at}
        return None

    def start_run(self, cluster: str, service_name: str, revision: str) -> dict[str, Any]:
        network = {
            "subnets": self.environ["SMOKE_SUBNETS"].split(","),
            "securityGroups": [self.environ["SMOKE_SECURITY_GROUP"]],
            "assignPublicIp": "DISABLED",
        }
        response = self.ecs.run_task(
            cluster=cluster,
            # The family's latest revision: the deploy workflow registers it with the smoke
            # image built from the same commit as the release.
            taskDefinition=f"{service_name}-smoke",
            launchType="FARGATE",
            startedBy=started_by(revision),
            networkConfiguration={"awsvpcConfiguration": network},
        )
        if not response.get("tasks"):
            raise RuntimeError(f"the smoke task did not start: {response.get('failures')}")
        return {
            "revision": revision,
            "task": response["tasks"][0]["taskArn"],
            "startedAt": self.now,
        }


def evaluate(
    event: dict[str, Any], ecs: Any, ssm: Any, now: float, environ: dict[str, str]
) -> dict[str, Any]:
    return SmokeGate(ecs, ssm, now, environ).evaluate(event)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    boto3 = importlib.import_module("boto3")  # the Lambda runtime provides it; tests pass fakes
    return evaluate(event, boto3.client("ecs"), boto3.client("ssm"), time.time(), dict(os.environ))
