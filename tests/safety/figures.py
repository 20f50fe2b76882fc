"""Figures the suite measured, merged into one JSON file that docs/RELIABILITY.md quotes.

Each test records its own section into `.run/reliability-figures.json`, so a test run leaves the
work tree clean; `make reliability` writes the published copy in docs/ (`SAFETY_FIGURES_PATH`).
"""

from __future__ import annotations

import json
import os
import platform
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO / ".run" / "reliability-figures.json"
_LOCK = threading.Lock()


def path() -> Path:
    return Path(os.environ.get("SAFETY_FIGURES_PATH", str(DEFAULT_PATH)))


def record(section: str, figures: dict[str, Any]) -> None:
    """Replace one section of the figures file and print it (visible with `pytest -s`)."""
    target = path()
    with _LOCK:
        try:
            current: dict[str, Any] = json.loads(target.read_text())
        except (OSError, ValueError):
            current = {}
        current.setdefault("sections", {})[section] = {
            **figures,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        current["machine"] = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
        current["python"] = platform.python_version()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    print(f"\n[safety figures] {section}: {json.dumps(figures, sort_keys=True)}")
