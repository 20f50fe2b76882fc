"""The deployment wiring, checked offline: CloudFormation, Dockerfiles, workflows, compose, smoke.

cfn-lint and checkov check that the templates are valid and safe; these tests check that they
are wired the way deploy/ecs/README.md says (which rule goes where, what rolls back, where secrets
come from), so that a refactor cannot quietly break a release path.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("topup", "treasury", "ledger")
SECRET_NAMES = {
    "DATABASE_URL",
    "JWT_SECRET",
    "SELCOM_API_KEY",
    "SELCOM_API_SECRET",
    "SELCOM_PIN",
    "WEMA_API_KEY",
    "WEMA_SECRET_KEY",
    "BVN_ENCRYPTION_KEY",
    "LEDGER_PRIVATE_KEY",
}
_EVERY_SERVICE = {"DATABASE_URL", "JWT_SECRET"}
SECRETS_BY_SERVICE = {
    "topup": _EVERY_SERVICE | {"SELCOM_API_KEY", "SELCOM_API_SECRET", "SELCOM_PIN"},
    "treasury": _EVERY_SERVICE | {"WEMA_API_KEY", "WEMA_SECRET_KEY", "BVN_ENCRYPTION_KEY"},
    # RPC provider URLs usually embed an API key, so the ledger keeps its URL secret too.
    "ledger": _EVERY_SERVICE | {"LEDGER_PRIVATE_KEY", "POLYGON_RPC_URL"},
}


# ------------------------------------------------------------------ a CloudFormation-aware loader
_FUNCTIONS = (
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "And",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
)

CfnLoader: Any = type("CfnLoader", (yaml.SafeLoader,), {})


def _node_value(loader: Any, node: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _function(name: str) -> Any:
    return lambda loader, node: {f"Fn::{name}": _node_value(loader, node)}


def _get_att(loader: Any, node: Any) -> dict[str, Any]:
    value = _node_value(loader, node)
    return {"Fn::GetAtt": value.split(".", 1) if isinstance(value, str) else value}


for _name in _FUNCTIONS:
    CfnLoader.add_constructor(f"!{_name}", _function(_name))
CfnLoader.add_constructor("!GetAtt", _get_att)
CfnLoader.add_constructor("!Ref", lambda loader, node: {"Ref": loader.construct_scalar(node)})
CfnLoader.add_constructor(
    "!Condition", lambda loader, node: {"Condition": loader.construct_scalar(node)}
)


def load_cfn(name: str) -> dict[str, Any]:
    text = (ROOT / "deploy" / "ecs" / name).read_text()
    document: dict[str, Any] = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


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
    assert len(repositories) == len(SERVICES)
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
    assert SECRETS_BY_SERVICE[svc] <= seeded


def test_the_smoke_gate_lambda_runs_the_code_kept_in_deploy_ecs_hooks(
    platform: dict[str, Any],
) -> None:
    inline = platform["Resources"]["SmokeGateFunction"]["Properties"]["Code"]["ZipFile"]
    source = (ROOT / "deploy" / "ecs" / "hooks" / "smoke_gate.py").read_text()
    assert inline == source, "copy deploy/ecs/hooks/smoke_gate.py into SmokeGateFunction's ZipFile"


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


def test_secrets_reach_containers_only_through_secrets_manager(service: dict[str, Any]) -> None:
    for container in containers(service):
        names = {e["Name"] for e in without_conditions(container["Environment"])}
        assert not names & SECRET_NAMES
        assert not any(re.search("SECRET|PASSWORD|PRIVATE|TOKEN", n) for n in names)
        for secret in without_conditions(container["Secrets"]):
            assert "SecretArn" in json.dumps(secret["ValueFrom"])


def test_every_secret_variable_is_injected_by_the_task_definitions(service: dict[str, Any]) -> None:
    for container in containers(service):
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


def test_the_migration_task_runs_the_migrate_command(service: dict[str, Any]) -> None:
    migration = service["Resources"]["MigrationTaskDefinition"]["Properties"]
    assert migration["Family"] == {"Fn::Sub": "betfuz-${EnvironmentName}-${Service}-migrate"}
    [container] = migration["ContainerDefinitions"]
    assert container["Command"] == ["migrate"]


def test_the_service_scales_by_target_tracking(service: dict[str, Any]) -> None:
    policies = resources(service, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    assert {p["Properties"]["PolicyType"] for p in policies} == {"TargetTrackingScaling"}


# ------------------------------------------------------------------ Dockerfiles
@pytest.fixture(params=SERVICES)
def dockerfile(request: pytest.FixtureRequest) -> tuple[str, str]:
    svc: str = request.param
    return svc, (ROOT / "services" / svc / "Dockerfile").read_text()


def test_images_run_as_a_numeric_non_root_user(dockerfile: tuple[str, str]) -> None:
    _, text = dockerfile
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1])


def test_images_install_only_the_hash_locked_wheels(dockerfile: tuple[str, str]) -> None:
    svc, text = dockerfile
    assert f"COPY services/{svc}/requirements.lock" in text
    assert re.search(r"pip install --require-hashes --no-deps .*-r /tmp/requirements.lock", text)


def test_images_pin_their_base_by_digest(dockerfile: tuple[str, str]) -> None:
    _, text = dockerfile
    # Every stage starts from the one ARG, whose default is the digest-pinned image.
    assert set(re.findall(r"^FROM\s+(\S+)", text, flags=re.M)) == {"${PYTHON_IMAGE}"}
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.M)
    assert re.search(r"@sha256:[0-9a-f]{64}$", default)


def test_images_carry_only_the_venv_with_the_shared_library_and_the_service_installed(
    dockerfile: tuple[str, str],
) -> None:
    svc, text = dockerfile
    builder, runtime = text.split(" AS runtime", 1)
    assert re.findall(r"^COPY\s+(.+)$", runtime, flags=re.M) == [
        "--from=builder /opt/venv /opt/venv"
    ]
    # The two projects are built as packages and installed; no source tree, no PYTHONPATH.
    assert f"/src/libs/common /src/services/{svc}" in builder
    assert "PYTHONPATH" not in text


def test_images_health_check_with_python_instead_of_curl(dockerfile: tuple[str, str]) -> None:
    _, text = dockerfile
    check = text.split("HEALTHCHECK", 1)[1].split("\nENTRYPOINT", 1)[0]
    assert "urllib.request" in check
    assert "127.0.0.1" in check
    assert "curl" not in check


def test_images_keep_connections_longer_than_the_alb_and_drain_before_the_kill(
    dockerfile: tuple[str, str],
) -> None:
    svc, text = dockerfile
    keep_alive = int(re.findall(r"UVICORN_TIMEOUT_KEEP_ALIVE=(\d+)", text)[0])
    graceful = int(re.findall(r"UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=(\d+)", text)[0])
    assert keep_alive > 60  # the ALB's idle timeout
    assert graceful < 30  # the task's stopTimeout
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert text.rstrip().endswith(f'ENTRYPOINT ["python", "-m", "{svc}"]')


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


def test_deploy_migrates_then_smoke_tests_green_before_production_traffic() -> None:
    steps = load_yaml(".github/workflows/deploy.yml")["jobs"]["deploy"]["steps"]
    runs = [s.get("run", "") for s in steps]
    order = [
        "build-and-push.sh",
        "run-migration.sh",
        "start-deployment.sh",
        "wait-for-deployment.sh test-traffic",
        "smoke.sh",
        "record-smoke.sh",
        "wait-for-deployment.sh done",
    ]
    positions = [next(i for i, r in enumerate(runs) if marker in r) for marker in order]
    assert positions == sorted(positions)


def test_a_failed_release_opens_an_issue() -> None:
    report = load_yaml(".github/workflows/deploy.yml")["jobs"]["report-failure"]
    assert report["if"] == "failure()"
    assert report["permissions"]["issues"] == "write"
    assert "gh issue create" in report["steps"][-1]["run"]


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


# ------------------------------------------------------------------ compose.yaml
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml("compose.yaml")


def test_compose_has_the_database_the_chain_the_sandboxes_and_the_router(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {"postgres", "anvil", "selcom", "wema", "router", *SERVICES} <= set(services)
    assert services["selcom"]["command"] == ["sandboxes.selcom"]
    assert services["wema"]["command"] == ["sandboxes.wema"]
    assert services["router"]["command"] == ["dev.router"]
    assert services["router"]["ports"] == ["127.0.0.1:8000:8000"]


@pytest.mark.parametrize("svc", SERVICES)
def test_compose_starts_each_service_after_its_migration_succeeded(
    compose: dict[str, Any], svc: str
) -> None:
    services = compose["services"]
    migration = services[f"{svc}-migrate"]
    assert migration["command"] == ["migrate"]
    assert migration["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert migration["build"]["dockerfile"] == f"services/{svc}/Dockerfile"
    upstream = services[svc]["depends_on"]
    gate = f"{svc}-migrate" if svc != "ledger" else "ledger-contract"
    assert upstream[gate] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("svc", SERVICES)
def test_compose_runs_services_read_only_without_capabilities(
    compose: dict[str, Any], svc: str
) -> None:
    definition = compose["services"][svc]
    assert definition["read_only"] is True
    assert definition["tmpfs"] == ["/tmp"]
    assert definition["cap_drop"] == ["ALL"]
    assert "user" not in definition  # the image's numeric non-root user applies


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
