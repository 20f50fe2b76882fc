"""The deployment wiring, checked offline: CloudFormation, Dockerfiles, workflows, smoke.

cfn-lint and checkov check that the templates are valid and safe; these tests check that they
are wired the way deploy/ecs/README.md says (which rule goes where, what rolls back, where secrets
come from), so that a refactor cannot quietly break a release path.
"""

import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from deploy.ecs.render import load_template

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("topup", "treasury", "ledger")
SECRET_NAMES = {
    "DATABASE_URL",
    "JWT_SECRET",
    "SELCOM_API_KEY",
    "SELCOM_API_SECRET",
    "SELCOM_PIN",
    "VTPASS_USERNAME",
    "VTPASS_PASSWORD",
    "WEMA_API_KEY",
    "WEMA_SECRET_KEY",
    "BVN_ENCRYPTION_KEY",
    "LEDGER_PRIVATE_KEY",
    "SMOKE_JWT_SECRET",
}
_EVERY_SERVICE = {"DATABASE_URL", "JWT_SECRET", "SMOKE_JWT_SECRET"}
SECRETS_BY_SERVICE = {
    "topup": _EVERY_SERVICE
    | {"SELCOM_API_KEY", "SELCOM_API_SECRET", "SELCOM_PIN", "VTPASS_USERNAME", "VTPASS_PASSWORD"},
    "treasury": _EVERY_SERVICE | {"WEMA_API_KEY", "WEMA_SECRET_KEY", "BVN_ENCRYPTION_KEY"},
    # RPC provider URLs usually embed an API key, so the ledger keeps its URL secret too.
    "ledger": _EVERY_SERVICE | {"LEDGER_PRIVATE_KEY", "POLYGON_RPC_URL"},
}


def load_cfn(name: str) -> dict[str, Any]:
    return load_template(ROOT / "deploy" / "ecs" / name)


def load_yaml(path: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / path).read_text())
    return document


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def without_conditions(items: list[Any]) -> list[dict[str, Any]]:
    """List entries, with `!If [cond, value, NoValue]` replaced by value (every branch counts)."""
    flat: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict) and "Fn::If" in item:
            flat.extend(v for v in item["Fn::If"][1:] if v != {"Ref": "AWS::NoValue"})
        else:
            flat.append(item)
    return flat


@pytest.fixture(scope="module")
def platform() -> dict[str, Any]:
    return load_cfn("platform.yaml")


@pytest.fixture(scope="module")
def service() -> dict[str, Any]:
    return load_cfn("service.yaml")


def containers(service: dict[str, Any]) -> list[dict[str, Any]]:
    task_definitions = resources(service, "AWS::ECS::TaskDefinition").values()
    return [c for td in task_definitions for c in td["Properties"]["ContainerDefinitions"]]


# ------------------------------------------------------------------ platform.yaml
def test_there_is_one_https_production_listener_and_one_test_listener(
    platform: dict[str, Any],
) -> None:
    listeners = resources(platform, "AWS::ElasticLoadBalancingV2::Listener")
    https = {
        k: v["Properties"]["Port"]
        for k, v in listeners.items()
        if v["Properties"]["Protocol"] == "HTTPS"
    }
    assert https == {"ProductionListener": 443, "TestListener": 8443}


@pytest.mark.parametrize("svc", SERVICES)
def test_each_service_prefix_routes_to_its_blue_and_green_target_groups_on_both_listeners(
    platform: dict[str, Any], svc: str
) -> None:
    rules = resources(platform, "AWS::ElasticLoadBalancingV2::ListenerRule")
    capital = svc.capitalize()
    for rule_name, listener in (
        ("ProductionRule", "ProductionListener"),
        ("TestRule", "TestListener"),
    ):
        rule = rules[f"{capital}{rule_name}"]["Properties"]
        assert rule["ListenerArn"] == {"Ref": listener}
        paths = rule["Conditions"][0]["PathPatternConfig"]["Values"]
        assert paths == [f"/{svc}", f"/{svc}/*"]
        [action] = rule["Actions"]
        groups = [g["TargetGroupArn"] for g in action["ForwardConfig"]["TargetGroups"]]
        assert groups == [
            {"Ref": f"{capital}BlueTargetGroup"},
            {"Ref": f"{capital}GreenTargetGroup"},
        ]


def test_metrics_pages_answer_404_on_both_listeners_before_any_service_rule(
    platform: dict[str, Any],
) -> None:
    rules = resources(platform, "AWS::ElasticLoadBalancingV2::ListenerRule")
    service_priorities = [
        rules[f"{svc.capitalize()}ProductionRule"]["Properties"]["Priority"] for svc in SERVICES
    ]
    for name, listener in (("MetricsHiddenRule", "ProductionListener"),
                           ("MetricsHiddenTestRule", "TestListener")):  # fmt: skip
        rule = rules[name]["Properties"]
        assert rule["ListenerArn"] == {"Ref": listener}
        assert rule["Priority"] < min(service_priorities)
        paths = rule["Conditions"][0]["PathPatternConfig"]["Values"]
        assert sorted(paths) == sorted(f"/{svc}/metrics" for svc in SERVICES)
        [action] = rule["Actions"]
        assert action["Type"] == "fixed-response"
        assert action["FixedResponseConfig"]["StatusCode"] == "404"


@pytest.mark.parametrize("svc", SERVICES)
def test_blue_and_green_target_groups_health_check_the_service_prefixed_health_path(
    platform: dict[str, Any], svc: str
) -> None:
    groups = resources(platform, "AWS::ElasticLoadBalancingV2::TargetGroup")
    for colour in ("Blue", "Green"):
        props = groups[f"{svc.capitalize()}{colour}TargetGroup"]["Properties"]
        assert props["HealthCheckPath"] == f"/{svc}/health"
        assert props["TargetType"] == "ip"
        assert props["Port"] == 8080


def test_ecr_repositories_have_immutable_tags_and_scan_on_push(platform: dict[str, Any]) -> None:
    repositories = resources(platform, "AWS::ECR::Repository")
    assert len(repositories) == len(SERVICES) + 1  # and the smoke runner
    for repository in repositories.values():
        assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"
        assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}


def test_the_database_is_encrypted_private_and_its_password_managed_by_secrets_manager(
    platform: dict[str, Any],
) -> None:
    [database] = resources(platform, "AWS::RDS::DBInstance").values()
    props = database["Properties"]
    assert props["StorageEncrypted"] is True
    assert props["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in props
    assert props["PubliclyAccessible"] is False


def test_every_log_group_has_a_retention(platform: dict[str, Any]) -> None:
    for group in resources(platform, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] >= 30


def test_the_github_deploy_role_trusts_only_release_tags_of_the_repository(
    platform: dict[str, Any],
) -> None:
    role = platform["Resources"]["GitHubDeployRole"]["Properties"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
    }
    allowed = statement["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]
    prefixes = ("", *(f"{svc}-" for svc in SERVICES))
    assert [s["Fn::Sub"] for s in allowed] == [
        f"repo:${{GitHubRepository}}:ref:refs/tags/{prefix}v*" for prefix in prefixes
    ]


@pytest.mark.parametrize("svc", SERVICES)
def test_each_service_secret_holds_every_key_its_task_definition_reads(
    platform: dict[str, Any], service: dict[str, Any], svc: str
) -> None:
    seeded = set(
        json.loads(platform["Resources"][f"{svc.capitalize()}Secret"]["Properties"]["SecretString"])
    )
    seeded |= set(json.loads(platform["Resources"]["SharedSecret"]["Properties"]["SecretString"]))
    smoke = platform["Resources"]["SmokeSecret"]["Properties"]["GenerateSecretString"]
    seeded.add(smoke["GenerateStringKey"])
    assert SECRETS_BY_SERVICE[svc] <= seeded


def test_the_smoke_gate_lambda_runs_the_code_kept_in_deploy_ecs_hooks(
    platform: dict[str, Any],
) -> None:
    inline = platform["Resources"]["SmokeGateFunction"]["Properties"]["Code"]["ZipFile"]
    source = (ROOT / "deploy" / "ecs" / "hooks" / "smoke_gate.py").read_text()
    assert inline == source, "copy deploy/ecs/hooks/smoke_gate.py into SmokeGateFunction's ZipFile"


def test_the_key_that_protects_snapshots_and_secrets_outlives_the_stack(
    platform: dict[str, Any],
) -> None:
    key = platform["Resources"]["PlatformKey"]
    assert key["DeletionPolicy"] == "Retain"
    assert key["UpdateReplacePolicy"] == "Retain"


def test_the_key_policy_lets_cloudwatch_logs_use_it_for_every_log_group_encrypted_with_it(
    platform: dict[str, Any],
) -> None:
    statements = platform["Resources"]["PlatformKey"]["Properties"]["KeyPolicy"]["Statement"]
    [logs] = [s for s in statements if s["Sid"] == "CloudWatchLogsEncrypts"]
    patterns = [
        p["Fn::Sub"] for p in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    ]
    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
    for name, group in resources(platform, "AWS::Logs::LogGroup").items():
        if group["Properties"].get("KmsKeyId") != {"Fn::GetAtt": ["PlatformKey", "Arn"]}:
            continue
        log_group = group["Properties"]["LogGroupName"]["Fn::Sub"]
        assert any(fnmatch.fnmatchcase(prefix + log_group, p) for p in patterns), name


def test_only_the_smoke_runner_reaches_the_test_listener_from_inside_the_vpc(
    platform: dict[str, Any],
) -> None:
    ingress = platform["Resources"]["LoadBalancerSecurityGroup"]["Properties"][
        "SecurityGroupIngress"
    ]
    [test] = [rule for rule in ingress if rule["FromPort"] == 8443]
    assert test["CidrIp"] == {"Ref": "TestListenerCidr"}
    assert "Default" not in platform["Parameters"]["TestListenerCidr"]  # no wide default
    egress = platform["Resources"]["SmokeRunnerSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert {rule["FromPort"] for rule in egress} == {8443, 443}


def test_the_smoke_gate_starts_the_smoke_task_in_the_private_subnets(
    platform: dict[str, Any],
) -> None:
    function = platform["Resources"]["SmokeGateFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables["SMOKE_SUBNETS"] == {"Fn::Join": [",", {"Ref": "PrivateSubnetIds"}]}
    assert variables["SMOKE_SECURITY_GROUP"] == {"Ref": "SmokeRunnerSecurityGroup"}
    statements = platform["Resources"]["SmokeGateRole"]["Properties"]["Policies"][0]
    actions = {
        a for s in statements["PolicyDocument"]["Statement"] for a in always_list(s["Action"])
    }
    assert {"ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ssm:PutParameter"} <= actions
    assert "secretsmanager:GetSecretValue" not in actions  # the hook never sees a key


def test_reserved_concurrency_for_the_hook_is_optional(platform: dict[str, Any]) -> None:
    function = platform["Resources"]["SmokeGateFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "ReservesHookConcurrency",
            {"Ref": "SmokeGateReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert platform["Parameters"]["SmokeGateReservedConcurrency"]["Default"] == ""


def test_the_github_deploy_role_reads_no_secret(platform: dict[str, Any]) -> None:
    policy = platform["Resources"]["GitHubDeployRole"]["Properties"]["Policies"][0]
    statements = policy["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in always_list(s["Action"])}
    assert not {a for a in actions if a.startswith(("secretsmanager:", "kms:"))}
    assert "ssm:PutParameter" not in actions  # verdicts come from the hook only


def test_the_smoke_key_is_generated_not_seeded_and_only_smoke_and_service_roles_read_it(
    platform: dict[str, Any],
) -> None:
    secret = platform["Resources"]["SmokeSecret"]["Properties"]
    assert "SecretString" not in secret
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    readers = {
        name
        for name, role in resources(platform, "AWS::IAM::Role").items()
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in always_list(statement["Action"])
        and {"Ref": "SmokeSecret"} in always_list(statement["Resource"])
    }
    assert readers == {f"{s.capitalize()}ExecutionRole" for s in SERVICES} | {"SmokeExecutionRole"}


def always_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ service.yaml
def test_the_service_deploys_blue_green_with_a_bake_time(service: dict[str, Any]) -> None:
    props = service["Resources"]["EcsService"]["Properties"]
    assert props["DeploymentController"] == {"Type": "ECS"}
    config = props["DeploymentConfiguration"]
    assert config["Strategy"] == "BLUE_GREEN"
    assert config["BakeTimeInMinutes"] == {"Ref": "BakeTimeInMinutes"}


def test_a_lambda_hook_gates_production_traffic_after_the_test_traffic_shift(
    service: dict[str, Any],
) -> None:
    config = service["Resources"]["EcsService"]["Properties"]["DeploymentConfiguration"]
    [hook] = config["LifecycleHooks"]
    assert hook["LifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT"]
    assert "SmokeGateFunctionArn" in json.dumps(hook["HookTargetArn"])
    assert "EcsHookInvokeRoleArn" in json.dumps(hook["RoleArn"])


def test_the_load_balancer_names_the_alternate_group_and_both_listener_rules(
    service: dict[str, Any],
) -> None:
    [balancer] = service["Resources"]["EcsService"]["Properties"]["LoadBalancers"]
    assert "BlueTargetGroupArn" in json.dumps(balancer["TargetGroupArn"])
    advanced = {k: json.dumps(v) for k, v in balancer["AdvancedConfiguration"].items()}
    assert "GreenTargetGroupArn" in advanced["AlternateTargetGroupArn"]
    assert "ProductionRuleArn" in advanced["ProductionListenerRule"]
    assert "TestRuleArn" in advanced["TestListenerRule"]
    assert "EcsLoadBalancerRoleArn" in advanced["RoleArn"]


def test_alarms_and_the_circuit_breaker_roll_the_deployment_back(service: dict[str, Any]) -> None:
    config = service["Resources"]["EcsService"]["Properties"]["DeploymentConfiguration"]
    assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    alarms = config["Alarms"]
    assert alarms["Enable"] is True
    assert alarms["Rollback"] is True
    watched = {a["Ref"] for a in alarms["AlarmNames"]}
    assert watched == set(resources(service, "AWS::CloudWatch::Alarm"))
    assert {"TargetErrorRateAlarm", "UnhealthyHostsAlarm"} <= watched


def test_rollback_alarms_watch_both_target_groups(service: dict[str, Any]) -> None:
    for alarm in resources(service, "AWS::CloudWatch::Alarm").values():
        text = json.dumps(alarm["Properties"]["Metrics"])
        assert "BlueTargetGroupFullName" in text
        assert "GreenTargetGroupFullName" in text


def service_containers(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in containers(service) if c["Name"] == "app"]


def test_secrets_reach_containers_only_through_secrets_manager(service: dict[str, Any]) -> None:
    for container in containers(service):
        names = {e["Name"] for e in without_conditions(container["Environment"])}
        assert not names & SECRET_NAMES
        assert not any(re.search("SECRET|PASSWORD|PRIVATE|TOKEN", n) for n in names)
        for secret in without_conditions(container["Secrets"]):
            assert "SecretArn" in json.dumps(secret["ValueFrom"])


def test_every_secret_variable_is_injected_by_the_task_definitions(service: dict[str, Any]) -> None:
    for container in service_containers(service):
        injected = {s["Name"] for s in without_conditions(container["Secrets"])}
        assert set().union(*SECRETS_BY_SERVICE.values()) == injected


def test_containers_run_as_a_numeric_non_root_user_on_a_read_only_root_with_a_writable_tmp(
    service: dict[str, Any],
) -> None:
    for container in containers(service):
        assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", container["User"])
        assert container["ReadonlyRootFilesystem"] is True
        assert {"SourceVolume": "tmp", "ContainerPath": "/tmp", "ReadOnly": False} in container[
            "MountPoints"
        ]


def test_containers_log_to_cloudwatch(service: dict[str, Any]) -> None:
    for container in containers(service):
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"


def test_containers_are_stopped_after_draining_within_the_stop_timeout(
    service: dict[str, Any],
) -> None:
    [app] = service_containers(service)[:1]
    env = {e["Name"]: e["Value"] for e in without_conditions(app["Environment"])}
    assert int(env["UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"]) < app["StopTimeout"]


def test_the_migration_task_runs_the_migrate_command(service: dict[str, Any]) -> None:
    migration = service["Resources"]["MigrationTaskDefinition"]["Properties"]
    assert migration["Family"] == {"Fn::Sub": "betfuz-${EnvironmentName}-${Service}-migrate"}
    [container] = migration["ContainerDefinitions"]
    assert container["Command"] == ["migrate"]


def test_the_5xx_rate_alarm_fills_missing_alb_series_with_zero(service: dict[str, Any]) -> None:
    metrics = service["Resources"]["TargetErrorRateAlarm"]["Properties"]["Metrics"]
    [expression] = [m["Expression"] for m in metrics if "Expression" in m]
    for series in ("e1", "e2", "r1", "r2"):
        bare = re.findall(rf"(?<!FILL\(){series}\b", expression)
        assert not bare, f"{series} appears outside FILL({series}, 0): {expression}"
        assert f"FILL({series}, 0)" in expression


def test_the_smoke_task_runs_the_release_smoke_image_with_the_smoke_key_only(
    service: dict[str, Any],
) -> None:
    smoke = service["Resources"]["SmokeTaskDefinition"]["Properties"]
    assert smoke["Family"] == {"Fn::Sub": "betfuz-${EnvironmentName}-${Service}-smoke"}
    [container] = smoke["ContainerDefinitions"]
    assert [s["Name"] for s in container["Secrets"]] == ["SMOKE_JWT_SECRET"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["BASE_URL"] == {"Fn::Sub": "${ApiBaseUrl}:8443"}  # the test listener
    assert "TaskRoleArn" not in smoke  # it calls no AWS API


def test_the_service_scales_by_target_tracking(service: dict[str, Any]) -> None:
    policies = resources(service, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    assert {p["Properties"]["PolicyType"] for p in policies} == {"TargetTrackingScaling"}


# ------------------------------------------------------------------ Dockerfiles
SERVICE_DOCKERFILE = ROOT / "deploy" / "images" / "service.Dockerfile"
SMOKE_DOCKERFILE = ROOT / "deploy" / "images" / "smoke.Dockerfile"


@pytest.fixture(params=[SERVICE_DOCKERFILE, SMOKE_DOCKERFILE], ids=["service", "smoke"])
def dockerfile(request: pytest.FixtureRequest) -> str:
    path: Path = request.param
    return path.read_text()


def test_one_parametrised_dockerfile_builds_every_service_image() -> None:
    assert not list(ROOT.glob("services/*/Dockerfile"))
    text = SERVICE_DOCKERFILE.read_text()
    assert "ARG SERVICE" in text
    assert "COPY services/${SERVICE}/requirements.lock /tmp/requirements.lock" in text
    assert "exec /opt/venv/bin/python -m %s" in text  # the launcher: python -m <service>
    assert text.rstrip().endswith('ENTRYPOINT ["/opt/venv/bin/betfuz-service"]')


def test_images_run_as_a_numeric_non_root_user(dockerfile: str) -> None:
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.M)
    assert users
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1])


def test_images_install_only_the_hash_locked_wheels() -> None:
    text = SERVICE_DOCKERFILE.read_text()
    assert re.search(r"pip install --require-hashes --no-deps .*-r /tmp/requirements.lock", text)
    assert "npm ci --omit=dev --ignore-scripts" in SMOKE_DOCKERFILE.read_text()


def test_images_pin_their_base_by_digest(dockerfile: str) -> None:
    # Every stage starts from the one ARG, whose default is the digest-pinned image.
    assert set(re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.M)) == {"${PYTHON_IMAGE}"}
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, flags=re.M)
    assert re.search(r"@sha256:[0-9a-f]{64}$", default)


def test_service_images_carry_only_the_venv_with_the_shared_library_and_the_service() -> None:
    text = SERVICE_DOCKERFILE.read_text()
    builder, runtime = text.split(" AS runtime", 1)
    assert re.findall(r"^COPY\s+(.+)$", runtime, flags=re.M) == [
        "--from=builder /opt/venv /opt/venv"
    ]
    # The two projects are built as packages and installed; no source tree, no PYTHONPATH.
    assert "/src/libs/common /src/services/${SERVICE}" in builder
    assert "PYTHONPATH" not in text


def test_service_images_health_check_with_python_instead_of_curl() -> None:
    check = SERVICE_DOCKERFILE.read_text().split("HEALTHCHECK", 1)[1].split("\nENTRYPOINT", 1)[0]
    assert "urllib.request" in check
    assert "127.0.0.1" in check
    assert "curl" not in check


def test_service_images_keep_connections_longer_than_the_alb_and_drain_before_the_kill() -> None:
    text = SERVICE_DOCKERFILE.read_text()
    keep_alive = int(re.findall(r"UVICORN_TIMEOUT_KEEP_ALIVE=(\d+)", text)[0])
    graceful = int(re.findall(r"UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=(\d+)", text)[0])
    assert keep_alive > 60  # the ALB's idle timeout
    assert graceful < 30  # the task's stopTimeout
    assert "PYTHONDONTWRITEBYTECODE=1" in text


def test_the_smoke_runner_pins_the_same_newman_as_the_dev_tools() -> None:
    dev = json.loads((ROOT / "package.json").read_text())["devDependencies"]["newman"]
    smoke = json.loads((ROOT / "deploy/smoke/package.json").read_text())["dependencies"]["newman"]
    lock = json.loads((ROOT / "deploy/smoke/package-lock.json").read_text())
    assert dev == smoke == lock["packages"]["node_modules/newman"]["version"]


def test_the_build_context_sends_only_what_the_images_copy() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[next(i for i, line in enumerate(ignore) if not line.startswith("#"))] == "*"
    for needed in ("!libs/common/", "!services/", "!requirements/build.lock", "!deploy/smoke/"):
        assert needed in ignore


# ------------------------------------------------------------------ workflows
def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` block, which YAML 1.1 (PyYAML) reads as the key True."""
    on: dict[str, Any] = workflow[True] if True in workflow else workflow["on"]
    return on


def test_ci_runs_on_pushes_and_pull_requests() -> None:
    on = triggers(load_yaml(".github/workflows/ci.yml"))
    assert "push" in on
    assert "pull_request" in on


def test_ci_runs_make_test_and_make_smoke_against_make_run() -> None:
    runs = [
        s.get("run", "")
        for j in load_yaml(".github/workflows/ci.yml")["jobs"].values()
        for s in j["steps"]
    ]
    assert "make test" in runs
    assert "bash dev/ci_smoke.sh" in runs
    script = (ROOT / "dev" / "ci_smoke.sh").read_text()
    assert "setsid make run" in script
    assert "make smoke" in script
    assert "bash dev/ci_smoke.sh" in (ROOT / ".ci" / "run").read_text()


def test_ci_and_the_ci_script_rehearse_blue_green_and_boot_the_images() -> None:
    runs = [
        s.get("run", "")
        for j in load_yaml(".github/workflows/ci.yml")["jobs"].values()
        for s in j["steps"]
    ]
    assert "bash dev/ci_rehearse.sh" in runs
    script = (ROOT / ".ci" / "run").read_text()
    for step in ("dev/ci_smoke.sh", "dev/ci_rehearse.sh", "make image-test", "make test"):
        assert step in script
    # make test last: its pytest summary closes the log.
    assert script.rstrip().endswith("make test")


def test_deploy_runs_on_release_tags_for_all_or_one_service() -> None:
    on = triggers(load_yaml(".github/workflows/deploy.yml"))
    assert set(on) == {"push"}
    assert on["push"]["tags"] == ["v*", "topup-v*", "treasury-v*", "ledger-v*"]


def test_deploy_gets_aws_credentials_through_oidc_only() -> None:
    workflow = load_yaml(".github/workflows/deploy.yml")
    text = (ROOT / ".github/workflows/deploy.yml").read_text()
    assert "aws-access-key-id" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"]["id-token"] == "write"
    [credentials] = [s for s in deploy["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert "role-to-assume" in credentials["with"]


def deploy_job() -> dict[str, Any]:
    job: dict[str, Any] = load_yaml(".github/workflows/deploy.yml")["jobs"]["deploy"]
    return job


def test_deploy_migrates_then_lets_the_hook_smoke_test_green_before_production_traffic() -> None:
    runs = [s.get("run", "") for s in deploy_job()["steps"]]
    order = [
        "build-and-push.sh service",
        "build-and-push.sh smoke",
        "run-migration.sh",
        "start-deployment.sh",
        "wait-for-deployment.sh",
        "read-smoke.sh",
    ]
    positions = [next(i for i, r in enumerate(runs) if marker in r) for marker in order]
    assert positions == sorted(positions)


def test_ci_never_holds_a_signing_key_nor_reaches_the_test_listener() -> None:
    text = (ROOT / ".github/workflows/deploy.yml").read_text()
    assert "JWT_SECRET" not in text
    assert "mint_token" not in text
    assert ":8443" not in text
    assert "deploy/ci/smoke.sh" not in text  # the smoke runner task runs it, inside the VPC


def test_the_deploy_credentials_last_as_long_as_the_job() -> None:
    job = deploy_job()
    [credentials] = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    duration = int(credentials["with"]["role-duration-seconds"])
    assert duration >= job["timeout-minutes"] * 60


def test_the_deploy_role_allows_sessions_as_long_as_the_workflow_asks(
    platform: dict[str, Any],
) -> None:
    job = deploy_job()
    [credentials] = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    role = platform["Resources"]["GitHubDeployRole"]["Properties"]
    assert role["MaxSessionDuration"] >= int(credentials["with"]["role-duration-seconds"])


def test_no_tag_cancels_a_release_of_another_service_or_of_the_same_tag() -> None:
    workflow = load_yaml(".github/workflows/deploy.yml")
    assert workflow["concurrency"]["group"] == "deploy-${{ github.ref_name }}"
    job = deploy_job()
    assert job["concurrency"]["group"].endswith("${{ matrix.service }}")
    for group in (workflow["concurrency"], job["concurrency"]):
        assert group["cancel-in-progress"] is False


def test_a_failed_or_cancelled_release_opens_an_issue() -> None:
    report = load_yaml(".github/workflows/deploy.yml")["jobs"]["report-failure"]
    assert report["if"] == "failure() || cancelled()"
    assert report["permissions"]["issues"] == "write"
    assert "gh issue create" in report["steps"][-1]["run"]
    assert "cancelled" in report["steps"][-1]["run"]


def test_ci_builds_every_release_image_on_pull_requests() -> None:
    workflow = load_yaml(".github/workflows/ci.yml")
    assert "pull_request" in triggers(workflow)
    images = workflow["jobs"]["images"]
    assert set(images["strategy"]["matrix"]["image"]) == {*SERVICES, "smoke"}
    script = images["steps"][-1]["run"]
    assert "deploy/images/service.Dockerfile" in script
    assert "deploy/images/smoke.Dockerfile" in script


def test_a_migration_that_outlives_its_timeout_is_stopped() -> None:
    script = (ROOT / "deploy/ci/run-migration.sh").read_text()
    assert "MIGRATION_TIMEOUT_SECONDS" in script
    stop = script.index("aws ecs stop-task")
    assert script.index("deadline") < stop < script.index('[[ "$exit_code" == "0" ]]')


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_actions_are_pinned_to_commits_and_checkouts_keep_no_credentials(name: str) -> None:
    workflow = load_yaml(f".github/workflows/{name}")
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_run_steps_never_expand_expressions_inline(name: str) -> None:
    workflow = load_yaml(f".github/workflows/{name}")
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step.get("name")


# ------------------------------------------------------------------ smoke collections
@pytest.mark.parametrize("svc", SERVICES)
def test_smoke_collections_are_postman_v2_1_with_the_runner_variables(svc: str) -> None:
    collection = json.loads((ROOT / f"deploy/smoke/{svc}.postman_collection.json").read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    assert {v["key"] for v in collection["variable"]} == {"base_url", "token", "compliance_token"}
    urls = [i["request"]["url"]["raw"] for i in collection["item"]]
    assert all(u.startswith("{{base_url}}/") for u in urls)
    for probe in ("health", "ready", "openapi.json"):
        assert f"{{{{base_url}}}}/{svc}/{probe}" in urls
    tests = json.dumps(collection)
    assert "pm.response.to.have.status(401)" in tests
    assert "application/problem+json" in tests
