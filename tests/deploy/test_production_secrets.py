"""Production refuses, for every secret variable of every service, a placeholder someone forgot
to replace and a value too short to be a key, naming the variable (a forgotten CloudFormation
seed would let anyone mint compliance tokens or forge deposits)."""

from __future__ import annotations

import pytest

from betfuz_common.settings import CommonSettings, SecretKind, SettingsError, load_settings
from tests.deploy.test_task_definitions import SETTINGS, production_environ


def secrets_of(settings: type[CommonSettings]) -> dict[str, SecretKind]:
    merged: dict[str, SecretKind] = {}
    for klass in reversed(settings.__mro__):
        merged.update(getattr(klass, "__dict__", {}).get("SECRETS", {}))
    return merged


CASES = [
    (service, variable, kind)
    for service, settings in SETTINGS.items()
    for variable, kind in secrets_of(settings).items()
]


def test_every_secret_of_every_service_is_declared_with_its_kind() -> None:
    declared = {variable for _, variable, _ in CASES}
    secret_fields = {
        name.upper()
        for settings in SETTINGS.values()
        for name, field in settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert secret_fields <= declared


@pytest.mark.parametrize(("service", "variable", "kind"), CASES)
@pytest.mark.parametrize(
    "placeholder", ["seed-me", "your_api_key", "CHANGE-ME", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
)
def test_production_refuses_a_placeholder_naming_the_variable(
    service: str, variable: str, kind: SecretKind, placeholder: str
) -> None:
    environ = production_environ(service, "TaskDefinition")
    if variable not in environ:
        pytest.skip(f"{variable} is optional and not in the task definition")
    with pytest.raises(SettingsError, match=variable):
        load_settings(SETTINGS[service], {**environ, variable: placeholder})


@pytest.mark.parametrize(("service", "variable", "kind"), [c for c in CASES if c[2].value > 4])
def test_production_refuses_a_secret_shorter_than_its_kind_needs(
    service: str, variable: str, kind: SecretKind
) -> None:
    environ = production_environ(service, "TaskDefinition")
    if variable not in environ:
        pytest.skip(f"{variable} is optional and not in the task definition")
    too_short = "k7Q" * ((kind.value - 1) // 3) + "k7Q"[: (kind.value - 1) % 3]
    assert len(too_short) == kind.value - 1
    with pytest.raises(SettingsError, match=variable):
        load_settings(SETTINGS[service], {**environ, variable: too_short})
    load_settings(SETTINGS[service], {**environ, variable: too_short + "Z"})  # long enough
