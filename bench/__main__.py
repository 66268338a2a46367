"""`make bench` = `python -m bench`: every benchmark of issue 8 §1 against the local stack, a table, and
bench/results.json + bench/README_TABLE.md. `--only a,b` runs some; `--quick` shrinks every size (for
trying the suite out; its figures are not the issue's and are written to bench/results.local.json)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cold_start, ingest, memory, qbo_calls, qbo_to_crm, throughput
from bench.harness import REPO, machine, report
from bench.results import RESULTS, load
from bench.table import text

# Order: the build first (memory reuses it); the long throughput run last.
BENCHMARKS: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {
    "cold_start": (cold_start.run, {}, {"rounds": 3}),
    "memory": (memory.run, {}, {"runs": 1}),
    "ingest": (ingest.run, {}, {"rounds": 3, "per_round": 50}),
    "qbo_calls": (qbo_calls.run, {}, {"reps": 1}),
    "qbo_to_crm": (qbo_to_crm.run, {}, {"webhook_samples": 3, "poll_samples": 2, "bulk_customers": 500,
                                        "bulk_reps": 2}),
    "throughput": (throughput.run, {}, {"events": 300, "calibration_events": 60, "inflight_events": 160,
                                        "pacing_calls": 600}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes; results go to bench/results.local.json")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")

    log = Path(tempfile.gettempdir()) / "qbsync-bench.log"
    report.divert_logs(log)
    report.say(f"qbsync benchmarks: {', '.join(chosen)}{' (quick)' if args.quick else ''}; handler logs: {log}")
    target = REPO / "bench" / "results.local.json" if args.quick else RESULTS
    results = load() if not args.quick else {}
    results.setdefault("benchmarks", {})
    results["machine"] = machine()
    seconds: dict[str, float] = {}
    load_avg: dict[str, list[float]] = {}
    for name in chosen:
        run, full, quick = BENCHMARKS[name]
        started = time.monotonic()
        load_avg[name] = [round(os.getloadavg()[0], 2)]
        try:
            results["benchmarks"][name] = run(**(quick if args.quick else full))
        except Exception as error:  # noqa: BLE001 - one failing benchmark must not hide the others
            report.say(f"  {name} failed: {error!r}")
            results["benchmarks"][name] = {"error": repr(error), "traceback": traceback.format_exc()[-4000:]}
        seconds[name] = round(time.monotonic() - started, 1)
        load_avg[name].append(round(os.getloadavg()[0], 2))
        report.say(f"  ({name}: {seconds[name]:.0f} s)")
    results["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["quick"] = args.quick
    results["seconds"] = {**results.get("seconds", {}), **seconds}
    # the 1-minute load average when each benchmark started and ended: this machine is shared
    results["load_average"] = {**results.get("load_average", {}), **load_avg}
    target.write_text(json.dumps(results, indent=2, default=str) + "\n")
    report.say("")
    report.say(text(results))
    report.say("")
    report.say(f"written: {target.relative_to(REPO)}")
    if not args.quick:
        from bench.readme_sync import rebuild

        report.say("written: " + ", ".join(rebuild(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
