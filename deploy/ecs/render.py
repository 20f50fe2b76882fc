"""Render a container of deploy/ecs/service.yaml the way CloudFormation would, offline.

`render_container(template, "TaskDefinition", {"Service": "topup", ...})` resolves parameters
(defaults, then the given values), conditions, !If / !Ref / !Sub / AWS::NoValue, and returns the
container's Environment as a dict and its Secrets as {name: ValueFrom}. Imports from the
platform stack (!ImportValue) render as `import:<export name>`, pseudo parameters as a fixed
example account and region. This is what the task definition's container really receives, so:

- tests/deploy/test_task_definitions.py checks each service's settings accept exactly that in
  production (nothing missing, nothing that no setting reads);
- deploy/images/image_test.py boots each image with exactly that, plus strong fake secrets
  (`fake_secrets`);
- `python deploy/ecs/render.py SERVICE [Name=Value ...]` prints it, for a reviewer.

Standard library and PyYAML only.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

TEMPLATE = Path(__file__).resolve().parent / "service.yaml"
PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "eu-west-1",
    "AWS::Partition": "aws",
    "AWS::StackName": "betfuz-prod-service",
    "AWS::URLSuffix": "amazonaws.com",
}
_NO_VALUE = object()
_FUNCTIONS = (
    *("Base64", "Equals", "If", "ImportValue", "Join", "Not", "And", "Or", "Select"),
    *("Split", "Sub", "FindInMap", "Cidr", "GetAZs", "Transform"),
)


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """SafeLoader that reads CloudFormation's short-form tags as their long-form mappings."""


def _node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


def _tag(name: str) -> Any:
    return lambda loader, node: {f"Fn::{name}": _node(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node(loader, node)
    return {"Fn::GetAtt": value.split(".", 1) if isinstance(value, str) else value}


for _name in _FUNCTIONS:
    CfnLoader.add_constructor(f"!{_name}", _tag(_name))
CfnLoader.add_constructor("!GetAtt", _get_att)
CfnLoader.add_constructor("!Ref", lambda loader, node: {"Ref": loader.construct_scalar(node)})
CfnLoader.add_constructor(
    "!Condition", lambda loader, node: {"Condition": loader.construct_scalar(node)}
)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


class RenderError(ValueError):
    """The template cannot be rendered with these parameters (a missing value, an unknown name)."""


@dataclass
class Renderer:
    template: Mapping[str, Any]
    parameters: Mapping[str, str]

    @classmethod
    def for_template(cls, template: Mapping[str, Any], given: Mapping[str, str]) -> Renderer:
        declared: Mapping[str, Any] = template.get("Parameters", {})
        unknown = set(given) - set(declared)
        if unknown:
            raise RenderError(f"not parameters of the template: {sorted(unknown)}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = str(given[name])
            elif "Default" in spec:
                values[name] = str(spec["Default"])
        renderer = cls(template, values)
        for name, value in values.items():
            renderer._check_allowed(name, value, declared[name])
        return renderer

    def _check_allowed(self, name: str, value: str, spec: Mapping[str, Any]) -> None:
        if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
            raise RenderError(f"{name}={value!r} is not one of {spec['AllowedValues']}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise RenderError(f"{name}={value!r} does not match {pattern}")

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template.get("Parameters", {}):
            raise RenderError(f"parameter {name} has no default: pass {name}=...")
        return f"ref:{name}"  # a resource: its physical id exists only in AWS

    def sub(self, text: str, extra: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name:
                return f"getatt:{name}"
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.value(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, mapping = arg
                return self.sub(text, {k: self.value(v) for k, v in mapping.items()})
            if key == "Fn::ImportValue":
                return f"import:{self.value(arg)}"
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.value(items))
            if key == "Fn::GetAtt":
                return "getatt:" + ".".join(arg)
        fields = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in fields.items() if v is not _NO_VALUE}


@dataclass(frozen=True)
class Container:
    environment: dict[str, str]
    secrets: dict[str, str]  # variable -> ValueFrom (secret ARN and JSON key)
    command: list[str] | None


def render_container(
    template: Mapping[str, Any], resource: str, parameters: Mapping[str, str]
) -> Container:
    renderer = Renderer.for_template(template, parameters)
    properties = renderer.value(template["Resources"][resource]["Properties"])
    [container] = properties["ContainerDefinitions"]
    return Container(
        environment={e["Name"]: str(e["Value"]) for e in container.get("Environment", [])},
        secrets={s["Name"]: str(s["ValueFrom"]) for s in container.get("Secrets", [])},
        command=container.get("Command"),
    )


def _random(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def fake_secrets(names: set[str], database_url: str) -> dict[str, str]:
    """Strong, random, well-formed values for the secrets a task definition names: what a real
    Secrets Manager entry would hold, so that no placeholder or dev default gets through."""
    values: dict[str, str] = {}
    for name in sorted(names):
        if name == "DATABASE_URL":
            values[name] = database_url
        elif name == "LEDGER_PRIVATE_KEY":
            values[name] = "0x" + secrets.token_hex(32)
        elif name == "SELCOM_PIN":
            values[name] = _random(6, string.digits)
        elif name.endswith("_URL"):
            # A URL that is a secret only because it embeds a provider's API key.
            values[name] = f"http://127.0.0.1:9/{_random(32)}"
        else:
            # 48 characters of 62 symbols: about 285 bits, above any 32-byte key minimum.
            values[name] = _random(48)
    return values


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    service, *pairs = argv
    given = dict(pair.split("=", 1) for pair in pairs)
    template = load_template()
    rendered = {
        resource: render_container(template, resource, {"Service": service, **given}).__dict__
        for resource in ("TaskDefinition", "MigrationTaskDefinition")
    }
    print(json.dumps(rendered, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
