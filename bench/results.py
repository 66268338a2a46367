"""bench/results.json: one file, a section per producer (`make bench` writes the benchmarks, `make chaos` the
chaos run); each run replaces only its own sections, so the file always holds the latest of both."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bench.harness import REPO

RESULTS = REPO / "bench" / "results.json"


def load() -> dict[str, Any]:
    try:
        return json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}


def save_section(name: str, data: Any, **extra: Any) -> dict[str, Any]:
    results = load()
    results[name] = data
    results.update(extra)
    results.setdefault("updated_at", {})
    if not isinstance(results["updated_at"], dict):
        results["updated_at"] = {}
    results["updated_at"][name] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results
