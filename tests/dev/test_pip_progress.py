"""A long pip install shows a dozen lines of progress, and an error in full."""

from __future__ import annotations

import io
from pathlib import Path

from dev.pip_progress import Progress, count_requirements, package_name, run


def pip_output(packages: int) -> list[str]:
    lines = ["Looking in indexes: https://pypi.example/simple\n"]
    for index in range(packages):
        lines.append(f"Collecting pkg{index}==1.0 (from -r requirements/dev.lock (line {index}))\n")
        lines.append(f"  Downloading pkg{index}-1.0-py3-none-any.whl (10 kB)\n")
        lines.append(
            "WARNING: Location 'file:///opt/x/' is ignored: it is neither a file nor a dir\n"
        )
    names = ", ".join(f"pkg{i}" for i in range(packages))
    lines.append(f"Installing collected packages: {names}\n")
    lines.append("Successfully installed everything\n")
    return lines


def test_a_hundred_packages_give_about_a_dozen_lines_and_pip_keeps_its_whole_log() -> None:
    out, log = io.StringIO(), io.StringIO()
    run(pip_output(100), Progress(100, out), log)
    shown = out.getvalue().splitlines()
    assert 10 <= len(shown) <= 13
    assert "collected 10/100 (pkg9==1.0)" in shown[0]
    assert "installing 100 packages" in shown[-2]
    assert shown[-1].endswith("done")
    assert all(line.lstrip().startswith("[") for line in shown)  # each with its elapsed time
    assert "is ignored" not in out.getvalue()
    assert log.getvalue() == "".join(pip_output(100))


def test_an_error_is_shown_whole() -> None:
    out = io.StringIO()
    lines = [
        "Collecting pkg0==1.0\n",
        "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n",
        "    pkg0==1.0 from https://pypi.example/pkg0.whl:\n",
        "        Expected sha256 abc\n",
    ]
    run(lines, Progress(50, out), io.StringIO())
    assert "DO NOT MATCH THE HASHES" in out.getvalue()
    assert "Expected sha256 abc" in out.getvalue()


def test_the_total_is_the_locks_pinned_requirements(tmp_path: Path) -> None:
    lock = tmp_path / "dev.lock"
    lock.write_text(
        "# generated\nanyio==4.16.0 \\\n    --hash=sha256:aa\n    # via httpx\nhttpx==0.28.1 \\\n"
        "    --hash=sha256:bb\n"
    )
    assert count_requirements(lock) == 2


def test_a_wheel_from_a_local_index_is_named_like_a_requirement() -> None:
    wheel = "/opt/pypi/files/idna-3.20-py3-none-any.whl"
    assert package_name(wheel) == "idna==3.20"
    assert package_name("httpx==0.28.1") == "httpx==0.28.1"
