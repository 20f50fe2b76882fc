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
        f"{sustained['statuses']}) | pgbench same SQL: {ceiling['tps']} tps (mean of "
        f"{' and '.join(str(round(run['tps'])) for run in ceiling['runs'])}, before and after) | "
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
    if "gas" in sections:
        lines += _gas_rows(sections["gas"])
    if "worker" in sections:
        worker = sections["worker"]
        lines.append(
            f"| bets recorded per minute by the worker (`ledger worker --once`, "
            f"{worker['bets_confirmed']:,} wins claimed → confirmed on anvil) | "
            f"{worker['bets_per_minute']:,} ({worker['seconds']} s) | — | "
            f"≥ {worker['target_bets_per_minute']:,} | "
            f"{_ok(worker['bets_per_minute'], worker['target_bets_per_minute'])} |"
        )
    if "csv" in sections:
        lines += _csv_rows(sections["csv"])
    if "scale" in sections:
        lines += ["", *scale_table(sections["scale"])]
    return "\n".join(lines)


def scale_table(section: dict[str, Any]) -> list[str]:
    """One row per measurement: p99 and database time at each size, and their growth."""
    sizes = [str(size) for size in section["sizes"]]
    target = section["target_growth"]
    head = " | ".join(f"p99 / db at {int(size):,}" for size in sizes)
    lines = [
        f"Scale curves (measured {section.get('measured_at', 'with the run above')}, "
        f"the scale section; HTTP at {section['rate_per_second']:g} req/s for "
        f"{section['seconds_per_point']} s a point; p99 / database time per request in ms; "
        f"growth = largest size over smallest, target ≤ {target}; plot: "
        "[scale-curves.png](scale-curves.png)):",
        "",
        f"| measurement | {head} | growth p99 / db | |",
        "|---|" + "---|" * len(sizes) + "---|---|",
    ]
    for name, by_size in section["points"].items():
        cells = " | ".join(
            f"{by_size[s]['p99_ms']} / {by_size[s]['db_ms_per_request']}" if s in by_size else "—"
            for s in sizes
        )
        growth = section["growth"][name]
        worst = max((g for g in (growth["p99"], growth["db"]) if g is not None), default=None)
        verdict = "—" if worst is None else _ok(worst, target, higher_is_better=False)
        lines.append(f"| {name} | {cells} | {growth['p99']} / {growth['db']} | {verdict} |")
    for name, why in section.get("not_available", {}).items():
        lines.append(f"| {name} | " + " | ".join("not available" for _ in sizes) + f" | {why} | |")
    return lines


def _gas_rows(section: dict[str, Any]) -> list[str]:
    gas, targets = section["gas"], section["targets"]
    per_bet = {size: gas[size]["gas_per_bet"] for size in ("1", "10", "100")}
    throughput = section["throughput"]
    return [
        f"| BetLedger gas per bet, batches of 1 / 10 / 100 | {per_bet['1']} / {per_bet['10']} / "
        f"{per_bet['100']} | one new storage slot: 22,100 | ≤ {targets['gas_per_bet_at_100']} "
        f"at 100 | {_ok(per_bet['100'], targets['gas_per_bet_at_100'], higher_is_better=False)} |",
        f"| bets per minute, chain client alone (batch 100 send + receipt) | "
        f"{throughput['bets_per_minute']} | — | "
        f"≥ {targets['bets_per_minute']} | "
        f"{_ok(throughput['bets_per_minute'], targets['bets_per_minute'])} |",
    ]


def _csv_rows(section: dict[str, Any]) -> list[str]:
    targets = section["targets"]
    return [
        f"| GET /ledger/export.csv, {section['rows']:,} rows | {section['export_seconds']} s, "
        f"{section['export_mb']} MB (best of {section.get('export_runs')}) | COPY … TO STDOUT "
        f"WITH CSV: {section['copy_seconds']} s (best of {section.get('copy_runs')}) | "
        f"speed ≥ {targets['speed_ratio']} of COPY: {section['speed_ratio']} | "
        f"{_ok(section['speed_ratio'], targets['speed_ratio'])} |",
        f"| export peak RSS of the service | {section['service_peak_rss_mb']} MB "
        f"(before: {section['service_rss_before_mb']} MB) | — | ≤ {targets['peak_rss_mb']} MB | "
        f"{_ok(section['service_peak_rss_mb'], targets['peak_rss_mb'], higher_is_better=False)} |",
    ]


def write(results: dict[str, Any], path: Path) -> None:
    body = table(results)
    text = path.read_text() if path.exists() else f"# Performance\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{START}\n{body}\n{END}{tail}")
