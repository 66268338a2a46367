"""The results table: one row per figure of issue 8, with its target and whether it is met; printed by
`make bench` and written as markdown to bench/README_TABLE.md for the README."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str]  # figure, measured, target, met


def _met(value: Any) -> str:
    if value is None:
        return "n/a"
    return "yes" if value else "**no**"


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def rows(results: dict[str, Any]) -> list[Row]:
    bench = results.get("benchmarks", {})
    out: list[Row] = []

    calls = bench.get("qbo_calls") or {}
    for key, label, target in (
        ("invoice_known_customer_known_items", "QBO calls: invoice, known customer and items", "= 1"),
        ("invoice_new_customer_known_items", "QBO calls: invoice, new customer", "≤ 3"),
        ("sales_receipt_known_customer", "QBO calls: sales receipt, known customer", "= 1"),
    ):
        entry = calls.get(key)
        if entry:
            out.append((label, f"{entry['qbo_calls_median']:g}", target, _met(entry["met"])))
        else:
            out.append((label, _error(calls), target, "n/a"))

    q2c = bench.get("qbo_to_crm") or {}
    bulk = q2c.get("bulk_poll") or {}
    if bulk.get("measurable"):
        out.append(("Poll of 5,000 customers changed within one interval: QBO / CRM calls",
                    f"{bulk['qbo_calls_median']:g} / {bulk['crm_calls_median']:g}", "≤ 6 / ≤ 50",
                    _met(bulk["met"])))
        if "burst_qbo_calls_median" in bulk:
            out.append(("Poll of 5,000 customers changed within seconds (bulk import): QBO / CRM calls",
                        f"{bulk['burst_qbo_calls_median']:g} / {bulk['burst_crm_calls_median']:g}", "≤ 6 / ≤ 50",
                        _met(bulk["burst_met"])))
    else:
        out.append(("Poll of 5,000 changed customers", _not_measurable(q2c, bulk), "≤ 6 QBO, ≤ 50 CRM calls", "n/a"))

    tp = _get(bench, "throughput", "sustained")
    if tp:
        fraction = tp.get("rate_fraction_of_limit")
        out.append(("Throughput: sustained rate under QBO's 500/min (time-scaled ×%g)" % tp["time_scale"],
                    "n/a" if fraction is None else f"{fraction:.1%} of the limit "
                    f"({tp['rate_per_qbo_minute']:g}/min; worst minute {tp.get('worst_window_fraction')})",
                    "≥ 90 %", _met((fraction or 0) >= 0.9)))
        failed = tp["events"] - tp["events_applied"]
        out.append(("Throughput: events failed or dead-lettered by throttling",
                    f"{failed} failed, {tp['dead_lettered']} dead-lettered ({tp['throttled_429']} × 429)", "0",
                    _met(failed == 0 and tp["dead_lettered"] == 0)))
    else:
        out.append(("Throughput under QBO's limit", _error(bench.get("throughput") or {}), "≥ 90 %", "n/a"))
    pacing = _get(bench, "throughput", "limiter_pacing")
    if pacing:
        fraction = pacing.get("rate_fraction_of_limit")
        out.append(("Throughput: qbsync's QBO limiter + client alone, real time",
                    "n/a" if fraction is None else f"{fraction:.1%} of the limit ({pacing['throttled_429']} × 429)",
                    "≥ 90 %, no 429", _met(pacing["met"] and pacing["throttled_429"] == 0)))
    cap = _get(bench, "throughput", "in_flight_cap")
    if cap:
        out.append(("QBO requests in flight (16 workers, 1.5 s answers)",
                    f"max {cap['max_in_flight_seen']}, {cap['throttled_429']} × 429", "≤ 10, no 429",
                    _met(cap["met"])))

    for key, label, target in (("latency_webhook", "Latency QBO → CRM, webhook path (p95)", "≤ 10 s"),
                               ("latency_poll", "Latency QBO → CRM, poll path alone (p95)", "≤ 1 poll interval")):
        entry = q2c.get(key) or {}
        if entry.get("measurable"):
            measured = f"{entry['p95_s']:g} s (p50 {entry['p50_s']:g} s)"
            if key == "latency_poll":
                measured += f" with a {entry['poll_interval_s']} s interval"
            out.append((label, measured, target, _met(entry["met"])))
        else:
            out.append((label, _not_measurable(q2c, entry), target, "n/a"))

    ingest = bench.get("ingest") or {}
    if "cost_ratio_median" in ingest:
        out.append(("Ingest `POST /webhooks/crm` vs 1 DynamoDB write + 1 SQS send",
                    f"×{ingest['cost_ratio_median']:.2f} per event, ×{ingest['p99_ratio_median']:.2f} p99 "
                    f"({ingest['handler']['events_per_s_median']:g} vs {ingest['baseline']['events_per_s_median']:g} ev/s)",
                    "≤ 1.5×", _met(ingest["met"])))
    else:
        out.append(("Ingest cost", _error(ingest), "≤ 1.5×", "n/a"))

    cold = bench.get("cold_start") or {}
    if "handlers" in cold:
        worst = max(cold["handlers"].items(), key=lambda item: item[1]["ratio_cpu"])
        best = min(cold["handlers"].items(), key=lambda item: item[1]["ratio_cpu"])
        out.append(("Cold start: handler import vs `import boto3, pydantic` (CPU)",
                    f"×{best[1]['ratio_cpu']:.2f} ({best[0]}) to ×{worst[1]['ratio_cpu']:.2f} ({worst[0]}); floor "
                    f"{cold['floor']['cpu_ms_median']:g} ms" + _stack_floor(cold), "≤ 1.25×",
                    _met(all(h["met"] for h in cold["handlers"].values()))))
        layers = cold["layers"]
        out.append(("Zipped layer sizes", ", ".join(f"{name} {entry['zipped_mb']:g} MB" for name, entry in layers.items()),
                    "≤ 15 MB each", _met(all(entry["met"] for entry in layers.values()))))
    else:
        out.append(("Cold start", _error(cold), "≤ 1.25×", "n/a"))

    memory = bench.get("memory") or {}
    if "peak_mb_max" in memory:
        out.append(("Memory: peak RSS of the worker, batch of 10 events", f"{memory['peak_mb_max']:g} MB", "≤ 128 MB",
                    _met(memory["met"])))
    else:
        out.append(("Memory", _error(memory), "≤ 128 MB", "n/a"))

    chaos = results.get("chaos")
    if chaos:
        before, after = chaos["reconcile_before_fix_without_planted"], chaos["reconcile_after_redrive"]
        out.append((f"Chaos ({chaos['events']} events, {chaos['tenants']} tenants): duplicates / missing",
                    f"{before['duplicates'] + after['duplicates']} / {before['missing']} (before the fix)", "0 / 0",
                    _met(before["duplicates"] == after["duplicates"] == 0 and before["missing"] == 0)))
        dlq = chaos["dead_letters_before_fix"]
        out.append(("Chaos: DLQ holds only the planted errors, with reasons",
                    f"{dlq['unplanted_count']} unplanted, {dlq['planted_not_dead_lettered_count']} planted not in the DLQ",
                    "0, 0", _met(dlq["only_planted"])))
        out.append(("Chaos: match after fix + redrive", f"{after['match_percent']} %", "100 %",
                    _met(after["match_percent"] == 100.0 and after["clean"])))
    return out


def _stack_floor(cold: dict[str, Any]) -> str:
    """The fixed stack's own share (one pydantic model + Powertools Logger/Metrics), when measured."""
    stack = cold.get("stack_floor")
    if not stack or "ratio_cpu" not in stack:
        return ""
    return f"; the stack alone (one pydantic model + Powertools Logger/Metrics) ×{stack['ratio_cpu']:.2f}"


def _error(section: dict[str, Any]) -> str:
    return f"error: {section['error'][:80]}" if isinstance(section, dict) and section.get("error") else "not run"


def _not_measurable(section: dict[str, Any], entry: dict[str, Any]) -> str:
    if section.get("error"):
        return _error(section)
    if entry and not entry.get("measurable", True):
        return f"not measurable yet: {entry.get('reason', '')[:90]}"
    return "not run"


def markdown(results: dict[str, Any]) -> str:
    lines = ["| figure | measured | target | met |", "|---|---|---|---|"]
    for figure, measured, target, met in rows(results):
        lines.append(f"| {figure} | {measured} | {target} | {met} |")
    machine = results.get("machine") or {}
    lines.append("")
    lines.append(f"`make bench` ({results.get('generated_at', '?')}; {machine.get('cpus', '?')} CPUs "
                 f"{machine.get('cpu_model', '')}, Python {machine.get('python', '?')}, load average at start "
                 f"{machine.get('load_average_at_start', '?')}); chaos row from `make chaos` "
                 f"({(results.get('updated_at') or {}).get('chaos', 'not run')}). Details: bench/results.json, "
                 "bench/README.md.")
    return "\n".join(lines) + "\n"


def text(results: dict[str, Any]) -> str:
    table = rows(results)
    widths = [max(len(row[i]) for row in [("figure", "measured", "target", "met"), *table]) for i in range(4)]
    widths[1] = min(widths[1], 70)
    lines = []
    for row in [("figure", "measured", "target", "met"), *table]:
        lines.append("  ".join(cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row)))
    return "\n".join(lines)
