"""The capacity model (issue 8 §3): `python -m bench.capacity` turns the per-event costs `make bench` measured
(bench/results.json: QBO, CRM and AWS calls per operation, per idle poll, per webhook) into loads and monthly
AWS cost for 10, 1,000 and 100,000 tenants, and writes bench/CAPACITY.md.

What is measured and what is assumed is kept apart: `PROFILE`, `LATENCY` and `PRICES` are the assumptions
(stated in the document); every count comes from results.json; memory sizes, batch sizes and concurrency caps
come from infra/template.yaml.
"""

from __future__ import annotations

from typing import Any

import yaml

from bench.harness import REPO
from bench.results import load

# --- assumptions ----------------------------------------------------------------------------------------
PROFILE = {
    # A typical small-business tenant, per day.
    "invoices_sent": 20,
    "per_invoice": {"invoice.updated": 0.3, "invoice.partially_paid": 0.2, "invoice.paid": 0.8,
                    "invoice.voided": 0.03, "invoice.deleted": 0.02},
    "sales_receipts": 10,
    "new_customer_share": 0.3,
    "extra_deliveries": 0.2,  # CRM retries and re-sends
    "qbo_webhook_polls": 50,  # QBO webhooks (coalesced) → immediate poll jobs
    "schedule_polls": 288,  # every 5 minutes ("realtime" and "5m" tenants)
    "business_hours_share": 0.8, "business_hours": 10, "burst_factor": 3,
}
LATENCY = {"qbo": 0.25, "crm": 0.15, "dynamodb": 0.006, "kms": 0.008, "sqs": 0.012, "cpu_per_invocation": 0.03}
PRICES = {  # us-east-1, on-demand, x86 (AWS price pages, 2025)
    "lambda_request": 0.20 / 1e6, "lambda_gb_s": 0.0000166667, "http_api_request": 1.00 / 1e6,
    "sqs_fifo_request": 0.50 / 1e6, "dynamodb_wru": 0.625 / 1e6, "dynamodb_rru": 0.125 / 1e6,
    "kms_request": 0.03 / 1e4, "log_gb": 0.50,
    # fixed per month: 2 KMS keys, 3 secrets, ~15 alarms, ~25 custom metrics, 1 dashboard
    "fixed_month": 2 * 1.00 + 3 * 0.40 + 15 * 0.10 + 25 * 0.30 + 3.00,
}
LOG_BYTES = {"event": 2500, "poll": 1200, "webhook": 600}  # INFO logs + EMF lines, estimated
SCALES = (10, 1_000, 100_000)
INTUIT_COREPLUS_BUILDER_MONTH = 500_000  # QBO.md §6.3
TICK_SECONDS = 300

EVENT_OPS = {  # event type → [(share, measured operation)]
    "invoice.sent": [(1 - PROFILE["new_customer_share"], "invoice_known_customer_known_items"),
                     (PROFILE["new_customer_share"], "invoice_new_customer_known_items")],
    "payment.succeeded": [(1 - PROFILE["new_customer_share"], "sales_receipt_known_customer"),
                          (PROFILE["new_customer_share"], "sales_receipt_new_customer")],
    "invoice.updated": [(1, "invoice_updated")],
    "invoice.partially_paid": [(1, "invoice_partially_paid")],
    "invoice.paid": [(1, "invoice_paid")],
    "invoice.voided": [(1, "invoice_voided")],
    "invoice.deleted": [(1, "invoice_deleted_with_one_payment")],
}


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_facts() -> dict[str, Any]:
    template = yaml.load((REPO / "infra" / "template.yaml").read_text(), Loader=_CfnLoader)
    globals_ = template.get("Globals", {}).get("Function", {})
    facts: dict[str, Any] = {}
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        entry = {"memory_mb": props.get("MemorySize", globals_.get("MemorySize", 128)),
                 "timeout_s": props.get("Timeout", globals_.get("Timeout", 3))}
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "SQS":
                entry["batch_size"] = event["Properties"].get("BatchSize", 10)
                entry["max_concurrency"] = (event["Properties"].get("ScalingConfig") or {}).get("MaximumConcurrency")
        facts[name] = entry
    api = template["Resources"].get("HttpApi", {}).get("Properties", {}).get("DefaultRouteSettings", {})
    facts["http_api_rate_limit"] = api.get("ThrottlingRateLimit")
    return facts


def _calls(aws: dict[str, dict[str, int]], function: str) -> dict[str, int]:
    return aws.get(function, {})


def _units(calls: dict[str, int]) -> dict[str, float]:
    """AWS calls → billing units (small items: 1 RRU per strongly consistent read/query, 1 WRU per write)."""
    reads = sum(n for call, n in calls.items() if call in ("dynamodb.GetItem", "dynamodb.Query"))
    writes = sum(n for call, n in calls.items() if call in ("dynamodb.PutItem", "dynamodb.UpdateItem",
                                                            "dynamodb.DeleteItem"))
    return {"rru": reads + 0.5 * calls.get("dynamodb.Scan", 0), "wru": writes,
            "kms": sum(n for call, n in calls.items() if call.startswith("kms.")),
            "sqs": sum(n for call, n in calls.items() if call.startswith("sqs.")),
            "dynamodb_calls": reads + writes + calls.get("dynamodb.Scan", 0)}


def _duration(qbo: float, crm: float, units: dict[str, float]) -> float:
    return (qbo * LATENCY["qbo"] + crm * LATENCY["crm"] + units["dynamodb_calls"] * LATENCY["dynamodb"]
            + units["kms"] * LATENCY["kms"] + units["sqs"] * LATENCY["sqs"] + LATENCY["cpu_per_invocation"])


def per_tenant_day(results: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    bench = results["benchmarks"]
    ops = bench["qbo_calls"]
    idle = bench["qbo_to_crm"]["idle_poll"]
    events: dict[str, float] = {"invoice.sent": PROFILE["invoices_sent"],
                                "payment.succeeded": PROFILE["sales_receipts"]}
    for kind, rate in PROFILE["per_invoice"].items():
        events[kind] = PROFILE["invoices_sent"] * rate
    total_events = sum(events.values())
    deliveries = total_events * (1 + PROFILE["extra_deliveries"])

    worker = {"qbo": 0.0, "qbo_reads": 0.0, "crm": 0.0, "rru": 0.0, "wru": 0.0, "kms": 0.0, "sqs": 0.0,
              "seconds": 0.0}
    for kind, count in events.items():
        for share, op in EVENT_OPS[kind]:
            entry = ops[op]
            units = _units(_calls(entry["aws_calls_first"], "CrmEventWorkerFunction"))
            qbo, crm = entry["qbo_calls_median"], entry["crm_calls_median"]
            reads = sum(n for endpoint, n in entry["qbo_breakdown_first"].items() if endpoint.startswith("GET"))
            n = count * share
            worker["qbo"] += n * qbo
            worker["qbo_reads"] += n * reads
            worker["crm"] += n * crm
            for key in ("rru", "wru", "kms", "sqs"):
                worker[key] += n * units[key]
            worker["seconds"] += n * _duration(qbo, crm, units)
    ingest_units = _units(_calls(ops["invoice_known_customer_known_items"]["aws_calls_first"], "CrmWebhookFunction"))
    ingest_seconds = _duration(0, 0, ingest_units)
    polls = PROFILE["schedule_polls"] + PROFILE["qbo_webhook_polls"]
    poll_units = _units(_calls(idle["aws_calls"], "PollWorkerFunction"))
    poll_seconds = _duration(idle["qbo_calls"], idle["crm_calls"], poll_units)
    # the scheduler's share per company per tick: its reads and the job's send (the scan is shared)
    sched_calls = dict(_calls(idle["aws_calls"], "PollSchedulerFunction"))
    sched_units = _units(sched_calls)
    sched_per_company_seconds = (sched_calls.get("dynamodb.GetItem", 0) * LATENCY["dynamodb"]
                                 + sched_calls.get("sqs.SendMessage", 0) * LATENCY["sqs"])

    memory = {name: facts[name]["memory_mb"] / 1024 for name in
              ("CrmWebhookFunction", "CrmEventWorkerFunction", "PollWorkerFunction", "QboWebhookFunction",
               "PollSchedulerFunction")}
    day = {
        "crm_events": total_events, "webhook_deliveries": deliveries, "qbo_webhooks": PROFILE["qbo_webhook_polls"],
        "polls": polls,
        "qbo_calls": worker["qbo"] + polls * idle["qbo_calls"],
        "qbo_calls_events": worker["qbo"],
        "qbo_reads": worker["qbo_reads"] + polls * idle["qbo_calls"],
        "crm_calls": worker["crm"] + polls * idle["crm_calls"],
        "lambda_invocations": deliveries + PROFILE["qbo_webhook_polls"] + total_events + polls,
        "gb_s": (deliveries * ingest_seconds * memory["CrmWebhookFunction"]
                 + worker["seconds"] * memory["CrmEventWorkerFunction"]
                 + polls * poll_seconds * memory["PollWorkerFunction"]
                 + PROFILE["qbo_webhook_polls"] * ingest_seconds * memory["QboWebhookFunction"]
                 + PROFILE["schedule_polls"] * sched_per_company_seconds * memory["PollSchedulerFunction"]),
        "rru": deliveries * ingest_units["rru"] + worker["rru"] + polls * poll_units["rru"]
               + PROFILE["schedule_polls"] * sched_units["rru"],
        "wru": deliveries * ingest_units["wru"] + worker["wru"] + polls * poll_units["wru"],
        "kms": worker["kms"] + polls * poll_units["kms"],
        # the event-driven part follows business hours; polls run around the clock
        "rru_events": deliveries * ingest_units["rru"] + worker["rru"],
        "wru_events": deliveries * ingest_units["wru"] + worker["wru"],
        "kms_events": worker["kms"],
        # sends, and the ESM's receive + delete per message (batches are ~1 message at these rates)
        "sqs": (deliveries * ingest_units["sqs"] + 2 * total_events + worker["sqs"]
                + polls * 3),
        "http_api": deliveries + PROFILE["qbo_webhook_polls"],
        "log_bytes": total_events * LOG_BYTES["event"] + polls * LOG_BYTES["poll"]
                     + (deliveries + PROFILE["qbo_webhook_polls"]) * LOG_BYTES["webhook"],
        "worker_seconds_per_event": worker["seconds"] / total_events,
        "poll_seconds": poll_seconds, "ingest_seconds": ingest_seconds,
        "scheduler_seconds_per_company": sched_per_company_seconds,
    }
    return day


def monthly_cost(day: dict[str, Any], tenants: int) -> dict[str, float]:
    month = 30 * tenants
    cost = {
        "Lambda": month * (day["lambda_invocations"] * PRICES["lambda_request"] + day["gb_s"] * PRICES["lambda_gb_s"]),
        "API Gateway": month * day["http_api"] * PRICES["http_api_request"],
        "SQS FIFO": month * day["sqs"] * PRICES["sqs_fifo_request"],
        "DynamoDB": month * (day["rru"] * PRICES["dynamodb_rru"] + day["wru"] * PRICES["dynamodb_wru"]),
        "KMS": month * day["kms"] * PRICES["kms_request"],
        "CloudWatch Logs": month * day["log_bytes"] / 1e9 * PRICES["log_gb"],
        "fixed (keys, secrets, alarms, metrics, dashboard)": PRICES["fixed_month"],
    }
    cost["total"] = sum(cost.values())
    return cost


def peak(day: dict[str, Any], tenants: int) -> dict[str, float]:
    share, hours, burst = PROFILE["business_hours_share"], PROFILE["business_hours"], PROFILE["burst_factor"]
    factor = share / (hours * 3600) * burst
    events = tenants * day["crm_events"] * factor
    return {
        "crm_webhooks_per_s": tenants * (day["webhook_deliveries"] * factor + PROFILE["qbo_webhook_polls"] / 86400),
        "events_per_s": events,
        "worker_concurrency": events * day["worker_seconds_per_event"],
        "poll_jobs_per_tick": tenants,
        "poll_concurrency_to_finish_a_tick_in_60s": tenants * day["poll_seconds"] / 60,
        "scheduler_seconds_per_tick": tenants * day["scheduler_seconds_per_company"],
        "dynamodb_wru_per_s": tenants * (day["wru_events"] * factor + (day["wru"] - day["wru_events"]) / 86400),
        "dynamodb_rru_per_s": tenants * (day["rru_events"] * factor + (day["rru"] - day["rru_events"]) / 86400),
        "kms_per_s": tenants * (day["kms_events"] * factor + (day["kms"] - day["kms_events"]) / 86400),
        "qbo_calls_per_company_per_min_peak": 60 * (day["qbo_calls_events"] * factor
                                                    + (day["qbo_calls"] - day["qbo_calls_events"]) / 86400),
    }


def limits(day: dict[str, Any], facts: dict[str, Any]) -> list[tuple[str, float, str]]:
    """(limit, tenants at which it binds, what the template sets / what to change)."""
    one = peak(day, 1)
    worker = facts["CrmEventWorkerFunction"]
    poll = facts["PollWorkerFunction"]
    scheduler = facts["PollSchedulerFunction"]
    reads_month = day["qbo_reads"] * 30
    return sorted([
        ("Intuit App Partner Program, Builder tier: 500,000 CorePlus calls per month per app (if reads, queries "
         "and CDC count as CorePlus: Intuit's to confirm)",
         INTUIT_COREPLUS_BUILDER_MONTH / reads_month,
         f"{reads_month:,.0f} reads (CDC polls, reads, queries) per tenant per month, {day['polls']:.0f} polls a "
         "day being most of them: a higher tier, or a slower safety poll for tenants on webhooks"),
        ("Poll scheduler: one invocation enqueues every company's job, one SendMessage each",
         scheduler["timeout_s"] / day["scheduler_seconds_per_company"],
         f"Timeout {scheduler['timeout_s']} s, ~{1000 * day['scheduler_seconds_per_company']:.0f} ms per company: "
         "SendMessageBatch (10 per call), a few threads, or fan out by segment"),
        ("HTTP API default route throttling",
         facts["http_api_rate_limit"] / one["crm_webhooks_per_s"],
         f"ThrottlingRateLimit {facts['http_api_rate_limit']}/s (burst 200): raise it with the tenant count "
         "(the CRM retries 429s, nothing is lost)"),
        ("CRM events worker: event source MaximumConcurrency",
         worker["max_concurrency"] / one["worker_concurrency"],
         f"MaximumConcurrency {worker['max_concurrency']} (BatchSize {worker['batch_size']}): raise it (up to "
         "1,000) together with the account's Lambda concurrency (1,000 by default)"),
        ("Poll worker: a tick's jobs done within the 5-minute interval",
         poll["max_concurrency"] * TICK_SECONDS / day["poll_seconds"],
         f"MaximumConcurrency {poll['max_concurrency']}, BatchSize {poll['batch_size']}, "
         f"~{day['poll_seconds']:.2f} s per job: raise it; slower safety polls for webhook tenants"),
        ("DynamoDB on-demand: a new table's first peak (4,000 WRU/s) and the per-table default (40,000)",
         4000 / one["dynamodb_wru_per_s"],
         "PAY_PER_REQUEST everywhere: pre-warm (warm throughput) before a big migration; no hot partition (the "
         "busiest key, one company's rate-limit items, takes ~25 WRU/s at QBO's 500/min)"),
        ("KMS symmetric requests (5,500/s in most regions, 50,000/s in us-east-1)",
         5500 / one["kms_per_s"],
         "one Decrypt per QBO call (the token is decrypted for every request): cache the access token per container"),
    ], key=lambda row: row[1])


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:,.1f}"
    return f"{value:,.3f}"


def render(results: dict[str, Any]) -> str:
    facts = template_facts()
    day = per_tenant_day(results, facts)
    lines = [
        "# Capacity model",
        "",
        "Generated by `python -m bench.capacity` from `bench/results.json` "
        f"(`make bench` of {results.get('generated_at', '?')}) and `infra/template.yaml`. Counts are measured; "
        "the tenant profile, AWS latencies and prices are assumptions, stated below.",
        "",
        "## Assumptions",
        "",
        f"- **A tenant's day**: {PROFILE['invoices_sent']} invoices sent, each followed on average by "
        + ", ".join(f"{rate:g} {kind}" for kind, rate in PROFILE["per_invoice"].items())
        + f"; {PROFILE['sales_receipts']} sales receipts; {PROFILE['new_customer_share']:.0%} of them for a new "
        f"customer; {PROFILE['extra_deliveries']:.0%} extra webhook deliveries (retries, re-sends); "
        f"{PROFILE['qbo_webhook_polls']} QBO webhooks (each an immediate poll) and a poll every 5 minutes "
        f"({PROFILE['schedule_polls']}). {PROFILE['business_hours_share']:.0%} of CRM events fall in "
        f"{PROFILE['business_hours']} business hours, with ×{PROFILE['burst_factor']} bursts over that hour's mean.",
        f"- **Measured per event** (bench/results.json `qbo_calls`, `qbo_to_crm.idle_poll`): QBO, CRM and AWS calls "
        "of each operation; a new customer costs a QBO query and create more; an idle poll is one CDC call.",
        "- **AWS latencies** (for Lambda duration): QBO call "
        f"{LATENCY['qbo'] * 1000:.0f} ms, CRM call {LATENCY['crm'] * 1000:.0f} ms, DynamoDB "
        f"{LATENCY['dynamodb'] * 1000:.0f} ms, KMS {LATENCY['kms'] * 1000:.0f} ms, SQS {LATENCY['sqs'] * 1000:.0f} ms, "
        f"{LATENCY['cpu_per_invocation'] * 1000:.0f} ms of CPU per invocation.",
        "- **Prices**: us-east-1 on-demand (Lambda x86 $0.20/M requests + $0.0000166667/GB-s; HTTP API $1/M; SQS FIFO "
        "$0.50/M; DynamoDB on-demand $0.625/M WRU, $0.125/M RRU; KMS $0.03/10k; logs $0.50/GB), free tiers ignored; "
        f"fixed ${PRICES['fixed_month']:.2f}/month for 2 KMS keys, 3 secrets, alarms, custom metrics, a dashboard. "
        "Small items: 1 RRU per strongly consistent read or query, 1 WRU per write.",
        "",
        "## Per tenant per day",
        "",
        "| | per tenant per day |",
        "|---|---|",
        f"| CRM events (webhook deliveries) | {_fmt(day['crm_events'])} ({_fmt(day['webhook_deliveries'])}) |",
        f"| polls (schedule + QBO webhooks) | {_fmt(day['polls'])} |",
        f"| QBO calls (of which reads: CDC, reads, queries) | {_fmt(day['qbo_calls'])} ({_fmt(day['qbo_reads'])}) |",
        f"| CRM calls | {_fmt(day['crm_calls'])} |",
        f"| Lambda invocations / GB-seconds | {_fmt(day['lambda_invocations'])} / {_fmt(day['gb_s'])} |",
        f"| DynamoDB RRU / WRU | {_fmt(day['rru'])} / {_fmt(day['wru'])} |",
        f"| KMS requests | {_fmt(day['kms'])} |",
        f"| SQS requests | {_fmt(day['sqs'])} |",
        f"| worker seconds per event (modelled) | {day['worker_seconds_per_event']:.2f} |",
        "",
        "Polling is most of the load: "
        f"{day['polls']:.0f} polls a day make {day['polls'] * 1:.0f} of the {day['qbo_calls']:.0f} QBO calls and most "
        "of the DynamoDB writes (each QBO call takes a rate-limiter slot and token: 2 conditional updates, 1 delete, "
        "2-3 consistent queries, and reads and decrypts the access token).",
        "",
        "## 10, 1,000 and 100,000 tenants",
        "",
        "| | " + " | ".join(f"{n:,} tenants" for n in SCALES) + " |",
        "|---|" + "---|" * len(SCALES),
    ]
    rows = [
        ("Lambda invocations / month", lambda n: 30 * n * day["lambda_invocations"]),
        ("Lambda GB-seconds / month", lambda n: 30 * n * day["gb_s"]),
        ("CRM webhooks / s (peak)", lambda n: peak(day, n)["crm_webhooks_per_s"]),
        ("CRM events applied / s (peak)", lambda n: peak(day, n)["events_per_s"]),
        ("worker concurrency needed (peak)", lambda n: peak(day, n)["worker_concurrency"]),
        ("poll jobs per 5-minute tick", lambda n: n),
        ("poll worker concurrency to finish a tick in 60 s", lambda n: peak(day, n)["poll_concurrency_to_finish_a_tick_in_60s"]),
        ("scheduler seconds per tick (one invocation)", lambda n: peak(day, n)["scheduler_seconds_per_tick"]),
        ("SQS requests / s (average)", lambda n: n * day["sqs"] / 86400),
        ("DynamoDB WRU / s (peak)", lambda n: peak(day, n)["dynamodb_wru_per_s"]),
        ("DynamoDB RRU / s (peak)", lambda n: peak(day, n)["dynamodb_rru_per_s"]),
        ("KMS requests / s (peak)", lambda n: peak(day, n)["kms_per_s"]),
        ("QBO calls per company per minute (peak; limit 500)", lambda n: peak(day, 1)["qbo_calls_per_company_per_min_peak"]),
        ("QBO reads per month, whole app", lambda n: 30 * n * day["qbo_reads"]),
    ]
    for label, value in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(value(n)) for n in SCALES) + " |")
    costs = {n: monthly_cost(day, n) for n in SCALES}
    for service in costs[SCALES[0]]:
        lines.append(f"| **AWS $/month: {service}** | " + " | ".join(f"${costs[n][service]:,.2f}" for n in SCALES) + " |")
    lines += [
        "",
        "## Which limits bind first",
        "",
        "| limit | binds at about | what the template sets, and what to change |",
        "|---|---|---|",
    ]
    for limit, tenants, note in limits(day, facts):
        lines.append(f"| {limit} | {tenants:,.0f} tenants | {note} |")
    lines += [
        "",
        "Also set by the template and clear of these loads: FIFO queues in high-throughput mode "
        "(`FifoThroughputLimit: perMessageGroupId`, `DeduplicationScope: messageGroup`; message groups per invoice, "
        "so throughput scales with the number of invoices, not of queues); DynamoDB `PAY_PER_REQUEST` with keys "
        "per tenant/realm/webhook id (no hot partition: the busiest single key is one company's rate-limit items); "
        "QBO's own 500 requests/minute and 10 in flight per company, which a tenant's day never approaches "
        f"(peak ~{peak(day, 1)['qbo_calls_per_company_per_min_peak']:.1f}/min) and which a bulk catch-up is paced "
        "against (bench `throughput`).",
        "",
        "Cheapest levers, in order: a slower safety poll for tenants that receive QBO webhooks (hourly instead of "
        "every 5 minutes cuts polls from 338 to 74 a day: most of the QBO reads, Lambda GB-s and DynamoDB writes); "
        "caching the decrypted access token per container (one KMS Decrypt and one GetItem per QBO call today); "
        "batching and parallelising the scheduler's enqueue.",
    ]
    return "\n".join(lines) + "\n"


def has_inputs(results: dict[str, Any]) -> bool:
    benchmarks = results.get("benchmarks", {})
    return "qbo_calls" in benchmarks and "idle_poll" in (benchmarks.get("qbo_to_crm") or {})


def main() -> int:
    from bench.readme_sync import rebuild

    results = load()
    if not has_inputs(results):
        raise SystemExit("bench/results.json lacks qbo_calls or qbo_to_crm.idle_poll: run `make bench` first")
    print("written: " + ", ".join(rebuild(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
