"""The scale curves as a PNG (docs/scale-curves.png): p99 and database time per request against
the rows already in the tables, one line per measurement, both axes logarithmic."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def scale_curves(section: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    figure, (latency, database) = plt.subplots(1, 2, figsize=(13, 5.5))
    for name, by_size in section["points"].items():
        sizes = sorted(by_size, key=int)
        xs = [int(size) for size in sizes]
        latency.plot(xs, [by_size[s]["p99_ms"] for s in sizes], marker="o", label=name)
        database.plot(xs, [by_size[s]["db_ms_per_request"] for s in sizes], marker="o", label=name)
    for axes, title in (
        (latency, "p99 latency (ms): HTTP at a fixed rate; a tick's duration"),
        (database, "database time per request (ms, pg_stat_database.active_time)"),
    ):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("rows already in the tables")
        axes.set_title(title, fontsize=10)
        axes.grid(True, which="both", alpha=0.3)
    latency.legend(fontsize=8, loc="upper left")
    figure.suptitle("Betfuz: cost as the data grows (make bench, --only scale)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
