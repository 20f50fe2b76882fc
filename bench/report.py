"""Turns bench/results/latest.json into the table in docs/PERFORMANCE.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def _ok(value: float | None, target: float, higher_is_better: bool = True) -> str:
    if value is None:
        return "—"
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "**missed**"


def _http_rows(name: str, section: dict[str, Any]) -> list[str]:
    sustained, paced, ceiling = section["sustained"], section["at_half_rate"], section["pgbench"]
    targets = section["targets"]
    return [
        f"| {name} sustained | {sustained['rps']} req/s (p50 {sustained['p50_ms']} ms, "
        f"p99 {sustained['p99_ms']} ms, errors {sustained['errors']}, statuses "
        f"{sustained['statuses']}) | pgbench same SQL: {ceiling['tps']} tps | "
        f"ratio {section['ratio']} ≥ {targets['ratio']} | "
        f"{_ok(section['ratio'], targets['ratio'])} |",
        f"| {name} at half rate | {paced['rps']} req/s, p50 {paced['p50_ms']} ms, "
        f"p99 {paced['p99_ms']} ms | — | p99 ≤ {targets['p99_ms_at_half_rate']} ms | "
        f"{_ok(paced['p99_ms'], targets['p99_ms_at_half_rate'], higher_is_better=False)} |",
    ]


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Measured {results['date']} at `{results['git']}` with `{results['command']}` "
        f"({results['seconds_total']} s) on {m['cores']} × {m['cpu']}, {m['memory_gb']} GB, "
        f"Python {m['python']}, {m['pgbench']}.",
        "",
        "| figure | measured | ceiling, same run | target | |",
        "|---|---|---|---|---|",
    ]
    sections = results["sections"]
    if "topup" in sections:
        lines += _http_rows("POST /topup", sections["topup"])
    if "webhook" in sections:
        lines += _http_rows("POST /treasury/webhook", sections["webhook"])
    for row in sections.get("extra_rows", []):
        lines.append(row)
    return "\n".join(lines)


def write(results: dict[str, Any], path: Path) -> None:
    body = table(results)
    text = path.read_text() if path.exists() else f"# Performance\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{START}\n{body}\n{END}{tail}")
