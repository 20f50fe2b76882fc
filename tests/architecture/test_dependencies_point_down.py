"""Dependencies point down: libraries know no service and no dev tooling; a service knows the
shared library and nothing of its siblings, the tests or the dev stack."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("topup", "treasury", "ledger")
DEV_TOOLING = ("dev", "sandboxes", "bench", "tests", "services", "libs")
PACKAGES = {
    "betfuz_common": ROOT / "libs/common/src/betfuz_common",
    "betfuz_testing": ROOT / "libs/testing/src/betfuz_testing",
    **{name: ROOT / f"services/{name}/src/{name}" for name in SERVICES},
}
FORBIDDEN = {
    "betfuz_common": (*SERVICES, *DEV_TOOLING, "betfuz_testing"),
    "betfuz_testing": (*SERVICES, *DEV_TOOLING),
    **{
        name: (*(s for s in SERVICES if s != name), *DEV_TOOLING, "betfuz_testing")
        for name in SERVICES
    },
}


def imported_modules(package_dir: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.module
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                yield path, node.args[0].value


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_nothing_above_or_beside_it(package: str) -> None:
    forbidden = FORBIDDEN[package]
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path, module in imported_modules(PACKAGES[package])
        if module.split(".")[0] in forbidden
    ]
    assert wrong == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from dev.platform import all_migrations\nimport topup.app\n")
    assert [m for _, m in imported_modules(tmp_path)] == ["dev.platform", "topup.app"]
