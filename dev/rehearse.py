"""`make rehearse SERVICE=topup [BREAK=1]`: an ECS blue/green deployment, played on the local stack.

The running stack (`make run`) stands in for AWS: its router is the ALB, with a production
listener (:8000) and a test listener (:8443) whose rules this script moves the way ECS moves its
listener rules. The smoke gate is the real hook (deploy/ecs/hooks/smoke_gate.py), fed events in
AWS's shape; the ECS and SSM it talks to are the stand-ins below, whose "smoke task" is the same
deploy/ci/smoke.sh the smoke runner image runs, aimed at the test listener.

1. blue: the working tree's build of SERVICE on a free port; both listeners' rules -> blue.
2. green: the same build (BREAK=1: a build whose readiness is broken, so smoke fails) beside it.
3. the test listener's rule -> green; the hook is called until it answers SUCCEEDED or FAILED.
4. SUCCEEDED: the production rule -> green; after the bake time blue is deregistered, drained
   and stopped. FAILED: the test rule goes back to blue and green stops; blue never stopped.
5. The rules go back to the stack's own service (as the stack was found) and what is left of the
   rehearsal stops, again only after a deregistration delay.

Every step is a line of JSON on stdout (`"event": ...`); the last one is the outcome. The
stack's own processes are never stopped. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from betfuz_common.auth import issue_token
from betfuz_common.settings import CommonSettings
from betfuz_testing.processes import free_port
from dev.router import DEFAULT_RULES_FILE, read_rules, write_rules

REPO = Path(__file__).resolve().parents[1]
HOOK = REPO / "deploy" / "ecs" / "hooks" / "smoke_gate.py"
PRODUCTION = "http://127.0.0.1:8000"
TEST_LISTENER = "http://127.0.0.1:8443"
CLUSTER = "betfuz-local"
OUT = REPO / ".run" / "rehearsal"


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke_gate", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def emit(event: str, **details: Any) -> None:
    print(json.dumps({"event": event, "at": round(time.time(), 3), **details}), flush=True)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - 127.0.0.1 only
            return int(answer.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Revision:
    """One colour: a service process on a port of its own."""

    colour: str
    service: str
    broken: bool
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "APP_ENV": "dev", "PORT": str(self.port), "HOST": "127.0.0.1"}
        env["PYTHONUNBUFFERED"] = "1"
        module = ["-m", "dev.rehearsal_build", self.service, *(["--broken"] if self.broken else [])]
        log = (OUT / f"{self.service}-{self.colour}.log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, *module], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while not healthy(f"{self.url}/{self.service}/health"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.colour} never became healthy (see {log.name})")
            time.sleep(0.2)
        emit("started", colour=self.colour, port=self.port, broken=self.broken)

    def stop(self) -> int:
        """SIGTERM, as ECS sends it once the target has drained; the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        emit("stopped", colour=self.colour, exitCode=code)
        return code


class Listeners:
    """The router's rules for one service prefix: what ECS changes through its ELB role."""

    def __init__(self, service: str, path: Path = DEFAULT_RULES_FILE) -> None:
        self.prefix, self.path = f"/{service}", path
        self.original = read_rules(path)

    def point(self, listener: str, target: Revision | None) -> None:
        rules = read_rules(self.path)
        if target is None:
            rules[listener].pop(self.prefix, None)
        else:
            rules[listener][self.prefix] = target.url
        write_rules(self.path, rules)
        emit("rule", listener=listener, target=target.colour if target else "stack")

    def restore(self) -> None:
        write_rules(self.path, self.original)
        emit("rule", listener="both", target="stack")


class LocalSmokeTasks:
    """ECS's RunTask / ListTasks / DescribeTasks / StopTask for the smoke family: the "task" is
    deploy/ci/smoke.sh run against the router's test listener."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.tasks: dict[str, dict[str, Any]] = {}

    def _tokens(self, subject: str) -> dict[str, str]:
        # The dev stack's services verify the dev JWT secret; in AWS the runner mints smoke
        # identity tokens from SMOKE_JWT_SECRET instead (deploy/smoke/mint_token.py).
        secret = os.environ.get("JWT_SECRET") or CommonSettings.DEV_DEFAULTS["JWT_SECRET"]
        return {
            "TOKEN": issue_token(secret, subject, roles=[], ttl_seconds=900),
            "COMPLIANCE_TOKEN": issue_token(secret, subject, roles=["compliance"], ttl_seconds=900),
        }

    def run_task(self, **request: Any) -> dict[str, Any]:
        arn = f"arn:aws:ecs:local:000000000000:task/{CLUSTER}/smoke{len(self.tasks) + 1}"
        env = {**os.environ, "SERVICE": self.service, "BASE_URL": TEST_LISTENER}
        env |= {"OUT_DIR": str(OUT)} | self._tokens(request["startedBy"])
        log = (OUT / f"{self.service}-smoke.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - the repository's smoke runner script
            [str(REPO / "deploy" / "ci" / "smoke.sh")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.tasks[arn] = {"startedBy": request["startedBy"], "process": process, "log": log.name}
        self.tasks[arn]["createdAt"] = time.time()
        emit("smoke-task", taskDefinition=request["taskDefinition"], startedBy=request["startedBy"])
        return {"tasks": [self._describe(arn)], "failures": []}

    def _describe(self, arn: str) -> dict[str, Any]:
        process: subprocess.Popen[bytes] = self.tasks[arn]["process"]
        code = process.poll()
        stopped = code is not None
        return {
            "taskArn": arn,
            "lastStatus": "STOPPED" if stopped else "RUNNING",
            "desiredStatus": "STOPPED" if stopped else "RUNNING",
            "containers": [{"name": "smoke", **({"exitCode": code} if stopped else {})}],
            "stoppedReason": "Essential container in task exited" if stopped else "",
        }

    def list_tasks(self, cluster: str, startedBy: str, desiredStatus: str) -> dict[str, Any]:
        return {
            "taskArns": [
                arn
                for arn, task in self.tasks.items()
                if task["startedBy"] == startedBy
                and self._describe(arn)["desiredStatus"] == desiredStatus
            ]
        }

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return {"tasks": [self._describe(arn) for arn in tasks]}

    def stop_task(self, cluster: str, task: str, reason: str) -> dict[str, Any]:
        self.tasks[task]["process"].terminate()
        self.tasks[task]["process"].wait(10)
        return {"task": self._describe(task)}

    def summary(self) -> Any:
        for task in self.tasks.values():
            lines = Path(task["log"]).read_text(errors="replace").splitlines()
            for line in reversed(lines):
                if line.startswith("smoke-summary "):
                    return json.loads(line.removeprefix("smoke-summary "))
        return None


class LocalParameters:
    """SSM PutParameter: the verdict lands in .run/rehearsal/<service>-smoke-result.json."""

    def __init__(self, service: str) -> None:
        self.path = OUT / f"{service}-smoke-result.json"

    def put_parameter(self, Name: str, Value: str, Type: str, Overwrite: bool) -> dict[str, Any]:
        self.path.write_text(Value)
        return {"Version": 1}


def smoke_gate(service: str, revision_number: int, callback_cap: float) -> tuple[str, Any]:
    """Calls the hook as ECS does until it answers SUCCEEDED or FAILED; (status, smoke summary)."""
    hook = load_hook()
    ecs, ssm = LocalSmokeTasks(service), LocalParameters(service)
    service_arn = f"arn:aws:ecs:local:000000000000:service/{CLUSTER}/betfuz-local-{service}"
    event: dict[str, Any] = {
        "executionDetails": {
            "serviceArn": service_arn,
            "targetServiceRevisionArn": (
                f"arn:aws:ecs:local:000000000000:service-revision/{CLUSTER}/"
                f"betfuz-local-{service}/{revision_number}"
            ),
            "testTrafficWeights": {},
            "productionTrafficWeights": {},
        },
        "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
        "executionId": f"rehearsal-{revision_number}",
    }
    environ = {"SMOKE_SUBNETS": "local", "SMOKE_SECURITY_GROUP": "local"}
    environ["SMOKE_TIMEOUT_SECONDS"] = "300"
    while True:
        answer = hook.evaluate(event, ecs, ssm, time.time(), environ)
        emit("hook", hookStatus=answer["hookStatus"])
        if answer["hookStatus"] != "IN_PROGRESS":
            return answer["hookStatus"], ecs.summary()
        event["hookDetails"] = answer.get("hookDetails", {})
        # ECS waits callBackDelay (30 s); locally the smoke run takes a few seconds.
        time.sleep(min(float(answer.get("callBackDelay", 30)), callback_cap))


def deregister(drain_seconds: float) -> None:
    """ECS deregisters a target and waits out the ALB's deregistration delay before SIGTERM:
    a request already on its way to the old target still lands on a process that serves it."""
    emit("draining", seconds=drain_seconds)
    time.sleep(drain_seconds)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("service", choices=["topup", "treasury", "ledger"])
    parser.add_argument("--break", dest="broken", action="store_true", help="green fails smoke")
    parser.add_argument(
        "--bake", type=float, default=5.0, help="seconds blue stays up after the switch"
    )
    parser.add_argument("--drain", type=float, default=2.0, help="deregistration delay, seconds")
    parser.add_argument(
        "--callback-cap", type=float, default=1.0, help="longest wait between hook calls"
    )
    args = parser.parse_args(argv)
    blue = Revision("blue", args.service, broken=False)
    green = Revision("green", args.service, broken=args.broken)
    outcome: dict[str, Any] = {"service": args.service, "broken": args.broken}
    if not healthy(f"{PRODUCTION}/health") or not healthy(f"{TEST_LISTENER}/health"):
        print("the local stack is not running: start `make run` first", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    listeners = Listeners(args.service)
    try:
        blue.start()
        listeners.point("production", blue)
        listeners.point("test", blue)
        green.start()
        listeners.point("test", green)
        revision_number = int(time.time())
        status, summary = smoke_gate(args.service, revision_number, args.callback_cap)
        outcome |= {"hookStatus": status, "smoke": summary}
        if status == "SUCCEEDED":
            listeners.point("production", green)
            emit("baking", seconds=args.bake)
            time.sleep(args.bake)
            deregister(args.drain)
            outcome["blueExitCode"] = blue.stop()
            outcome["serving"] = "green"
        else:
            listeners.point("test", blue)  # ECS rolls the test rule back too
            deregister(args.drain)
            outcome["greenExitCode"] = green.stop()
            outcome["blueRunning"] = blue.process is not None and blue.process.poll() is None
            outcome["serving"] = "blue"
        outcome["servingHealthy"] = healthy(f"{PRODUCTION}/{args.service}/health")
    finally:
        listeners.restore()
        deregister(args.drain)
        for revision in (green, blue):
            revision.stop()
    emit("outcome", **outcome)
    expected = "FAILED" if args.broken else "SUCCEEDED"
    return 0 if outcome.get("hookStatus") == expected and outcome.get("servingHealthy") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
