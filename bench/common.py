"""What every benchmark records beside its figures: machine, date and the command."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 4),
        "p95": round(percentile(values, 0.95), 4),
        "max": round(max(values), 4),
    }


def write_result(name: str, figures: dict[str, Any], module: str | None = None) -> Path:
    """bench/results/<name>.json; `module` when the command is not `python -m bench.<name>`."""
    RESULTS.mkdir(exist_ok=True)
    document = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", module or f"bench.{name}", *sys.argv[1:]]),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            # Other work on the machine skews timings: the load when the figures were written.
            "load_average_1_5_15_min": [round(load, 2) for load in os.getloadavg()],
        },
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["figures"], indent=2))
    return path
