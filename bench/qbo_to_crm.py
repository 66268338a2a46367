"""QBO → CRM (issue 8 §1): latency of a customer created in QBO until the CRM has the contact, through the
QBO webhook path (target p95 ≤ 10 s) and through the poll path alone (target ≤ one poll interval); and the
cost of polling 5,000 changed customers (≤ 6 QBO calls, ≤ 50 CRM calls).

These depend on issue 6 (QBO webhook ingest, poll jobs, the poll worker). Each part first checks that the
path works (one customer must reach the CRM within `PROBE_TIMEOUT`); when it does not, the part is reported
as not yet measurable, with what was seen (the webhook answers, the poll jobs' dead letters), instead of a
number.

- Webhook path: the QBO emulator sends its signed CloudEvents webhook on every change (as Intuit does);
  nothing else polls (no schedule runs).
- Poll path: webhooks are held back; the real scheduler function fires every `POLL_INTERVAL` seconds
  (PollIntervalSeconds = the same), customers are created at random moments of the interval, so the
  latency covers the whole range a customer can wait.
- 5,000 customers: created (then, in later repetitions, each changed) by a QBO user with webhooks held back;
  then one schedule tick; the QBO and CRM emulators' counters say what that poll cost.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench.harness import Bench, median, percentile, qbo_api_breakdown, qbo_api_calls, report, start_bench, \
    wait_drained

TENANT_WEBHOOK = "bench_q2c_webhook"
TENANT_BULK = "bench_q2c_bulk"
PROBE_TIMEOUT = 45.0
POLL_INTERVAL = 15
WEBHOOK_TARGET_P95_S = 10.0
BULK_TARGET_QBO = 6
BULK_TARGET_CRM = 50
QUEUES = ("PollJobsQueue", "CrmEventsQueue")


def _contact_ids(bench: Bench, tenant_id: str) -> set[str]:
    return {str(c.get("qbo_customer_id")) for c in bench.crm.contacts(tenant_id)}


def _new_customer(bench: Bench, realm: str, label: str) -> dict[str, Any]:
    return bench.qbo.user_create(realm, "Customer", {
        "DisplayName": f"Latency {label}", "GivenName": "Lena", "FamilyName": f"Latency {label}",
        "PrimaryEmailAddr": {"Address": f"latency.{label}@bench.example.com"}})


def _diagnose(bench: Bench) -> dict[str, Any]:
    """What the QBO → CRM path did, for a report that it does not work yet."""
    sqs = bench.stack.aws_client("sqs")
    dead = sqs.receive_message(QueueUrl=bench.stack.queue_url("PollJobsDeadLetterQueue"), MaxNumberOfMessages=10,
                               VisibilityTimeout=0, MessageAttributeNames=["All"]).get("Messages", [])
    reasons = sorted({(m.get("MessageAttributes") or {}).get("qbsync-reason-code", {}).get("StringValue", "?")
                      for m in dead})
    deliveries = bench.qbo.webhook_deliveries()
    return {"webhook_answers": sorted({str(d.get("status") or d.get("error")) for d in deliveries})[:5],
            "poll_job_dead_letter_reasons": reasons,
            "crm_contact_upserts": bench.crm.counters()["by_route"].get("POST /tenants/{t}/contacts/batch-upsert", 0)}


def _wait_for_contact(bench: Bench, tenant_id: str, qbo_id: str, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if qbo_id in _contact_ids(bench, tenant_id):
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def _latency_webhook(bench: Bench, realm: str, samples: int) -> dict[str, Any]:
    bench.qbo.set_webhooks(auto=True)
    latencies = []
    for i in range(samples):
        created_at = time.monotonic()
        customer = _new_customer(bench, realm, f"webhook {i}")
        waited = _wait_for_contact(bench, TENANT_WEBHOOK, str(customer["Id"]),
                                   PROBE_TIMEOUT if i == 0 else 60.0)
        if waited is None:
            return {"measurable": False, "reason": "the contact did not reach the CRM through the webhook path "
                                                   f"within {PROBE_TIMEOUT:g} s", "seen": _diagnose(bench)}
        latencies.append(time.monotonic() - created_at)
        time.sleep(random.uniform(0.2, 1.0))
    p95 = percentile(latencies, 95)
    return {"measurable": True, "samples": samples, "p50_s": round(median(latencies), 2), "p95_s": round(p95, 2),
            "max_s": round(max(latencies), 2), "target_p95_s": WEBHOOK_TARGET_P95_S,
            "met": p95 <= WEBHOOK_TARGET_P95_S}


def _latency_poll(bench: Bench, realm: str, samples: int) -> dict[str, Any]:
    from qbsync_local.aws import REGION
    from qbsync_local.schedules import ScheduleTimer

    bench.qbo.set_webhooks(auto=False)
    timer = ScheduleTimer(name="bench-poll", function=bench.stack.functions["PollSchedulerFunction"],
                          interval_seconds=POLL_INTERVAL, region=REGION,
                          account_id=bench.stack.deployed.account_id).start()
    latencies = []
    try:
        for i in range(samples):
            time.sleep(random.uniform(0, POLL_INTERVAL))
            created_at = time.monotonic()
            customer = _new_customer(bench, realm, f"poll {i}")
            waited = _wait_for_contact(bench, TENANT_WEBHOOK, str(customer["Id"]),
                                       max(PROBE_TIMEOUT, 3 * POLL_INTERVAL))
            if waited is None:
                return {"measurable": False, "reason": "the contact did not reach the CRM through the schedule "
                                                       f"within {3 * POLL_INTERVAL} s", "seen": _diagnose(bench)}
            latencies.append(time.monotonic() - created_at)
    finally:
        timer.stop()
    p95 = percentile(latencies, 95)
    return {"measurable": True, "samples": samples, "poll_interval_s": POLL_INTERVAL,
            "p50_s": round(median(latencies), 2), "p95_s": round(p95, 2), "max_s": round(max(latencies), 2),
            "p95_fraction_of_interval": round(p95 / POLL_INTERVAL, 3), "met": p95 <= POLL_INTERVAL}


def _tick(bench: Bench) -> Any:
    from qbsync_local.schedules import scheduled_event

    return bench.stack.functions["PollSchedulerFunction"].invoke(
        scheduled_event("arn:aws:events:us-east-1:123456789012:rule/bench-tick", "us-east-1",
                        bench.stack.deployed.account_id))


def _idle_poll(bench: Bench) -> dict[str, Any]:
    """One schedule tick for a company with no changes: what a quiet tenant costs every poll interval (the
    capacity model's largest line for QBO calls)."""
    wait_drained(bench.stack, QUEUES, quiet=0.5)
    qbo_before, crm_before = bench.qbo.counters(), bench.crm.counters()
    bench.counter.reset()
    _tick(bench)
    wait_drained(bench.stack, QUEUES, quiet=1.0)
    qbo_after, crm_after = bench.qbo.counters(), bench.crm.counters()
    return {"qbo_calls": qbo_api_calls(qbo_after) - qbo_api_calls(qbo_before),
            "qbo_breakdown": {k: v - qbo_api_breakdown(qbo_before).get(k, 0)
                              for k, v in qbo_api_breakdown(qbo_after).items()
                              if v - qbo_api_breakdown(qbo_before).get(k, 0)},
            "crm_calls": crm_after["calls"] - crm_before["calls"],
            "aws_calls": bench.counter.snapshot(), "invocations": dict(bench.counter.invocations)}


def _poll_cost(bench: Bench, done: Any, count: int) -> dict[str, Any]:
    """One schedule tick, then wait until `done()`; the QBO and CRM calls that poll made."""
    wait_drained(bench.stack, QUEUES, quiet=0.5)
    qbo_before, crm_before = bench.qbo.counters(), bench.crm.counters()
    started = time.monotonic()
    _tick(bench)
    deadline = time.monotonic() + 900
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} changed customers did not all reach the CRM within 900 s: "
                               f"{_diagnose(bench)}")
        time.sleep(0.5)
    seconds = time.monotonic() - started
    wait_drained(bench.stack, QUEUES, quiet=1.0)
    qbo_after, crm_after = bench.qbo.counters(), bench.crm.counters()
    before_breakdown = qbo_api_breakdown(qbo_before)
    return {
        "seconds": round(seconds, 1),
        "qbo_calls": qbo_api_calls(qbo_after) - qbo_api_calls(qbo_before),
        "qbo_breakdown": {k: v - before_breakdown.get(k, 0) for k, v in qbo_api_breakdown(qbo_after).items()
                          if v - before_breakdown.get(k, 0)},
        "crm_calls": crm_after["calls"] - crm_before["calls"],
        "crm_by_route": {k: v - crm_before["by_route"].get(k, 0) for k, v in crm_after["by_route"].items()
                         if v - crm_before["by_route"].get(k, 0)},
    }


def _bulk(bench: Bench, realm: str, count: int, reps: int) -> dict[str, Any]:
    """`count` customers changed between two polls, two ways:
    - spread: the changes are spread over one 5-minute poll interval of QBO time (the emulator's clock moves
      60 ms per change; nobody waits), as a busy company's day looks;
    - burst: all of them within seconds, as a spreadsheet import in QBO looks. QBO's CDC answers at most 1000
      objects and has one-second timestamps, so many changes in one second make a reader re-read that
      second (bench/README.md)."""
    bench.qbo.set_webhooks(auto=False)
    ids: list[str] = []
    runs = []
    plan = [("spread", "created")] + [("spread", "changed")] * max(0, reps - 2) + [("burst", "changed")] * 2
    for index, (pace, kind) in enumerate(plan):
        marker = f"555-{index:02d}"
        for i in range(count):
            phone = {"FreeFormNumber": f"{marker}{i:05d}"}
            if kind == "created":
                ids.append(str(bench.qbo.user_create(realm, "Customer", {
                    "DisplayName": f"Bulk Customer {i:05d}", "PrimaryPhone": phone,
                    "PrimaryEmailAddr": {"Address": f"bulk{i}@bench.example.com"}})["Id"]))
            else:
                bench.qbo.user_update(realm, "Customer", {"Id": ids[i], "PrimaryPhone": phone})
            if pace == "spread":
                bench.qbo.clock.advance(300 / count)

        def arrived() -> bool:
            contacts = {str(c.get("qbo_customer_id")): c for c in bench.crm.contacts(TENANT_BULK)}
            return all(str((contacts.get(i) or {}).get("phone", "")).startswith(marker) for i in ids)

        run = {"pace": pace, "kind": kind, **_poll_cost(bench, arrived, count)}
        runs.append(run)
        report.say(f"  {count} customers {kind} ({pace}): {run['qbo_calls']} QBO calls {run['qbo_breakdown']}, "
                   f"{run['crm_calls']} CRM calls, {run['seconds']:.0f} s")
    spread = [r for r in runs if r["pace"] == "spread"]
    burst = [r for r in runs if r["pace"] == "burst"]
    return {"measurable": True, "customers": count, "runs": runs,
            "qbo_calls_median": median(r["qbo_calls"] for r in spread),
            "crm_calls_median": median(r["crm_calls"] for r in spread),
            "burst_qbo_calls_median": median(r["qbo_calls"] for r in burst),
            "burst_crm_calls_median": median(r["crm_calls"] for r in burst),
            "target_qbo_calls": BULK_TARGET_QBO, "target_crm_calls": BULK_TARGET_CRM,
            "met": all(r["qbo_calls"] <= BULK_TARGET_QBO and r["crm_calls"] <= BULK_TARGET_CRM for r in spread),
            "burst_met": all(r["qbo_calls"] <= BULK_TARGET_QBO and r["crm_calls"] <= BULK_TARGET_CRM for r in burst)}


def run(*, webhook_samples: int = 20, poll_samples: int = 8, bulk_customers: int = 5000,
        bulk_reps: int = 3) -> dict[str, Any]:
    """`bulk_reps`: spread runs (the first creates the customers); two burst runs follow."""
    report.say("qbo_to_crm: latency through the QBO webhook and through the schedule; 5,000 changed customers")
    results: dict[str, Any] = {}
    # One poller per queue: the poll worker handles one job per company at a time (FIFO per tenant).
    with start_bench(pollers=1, function_concurrency=2, poll_interval_seconds=POLL_INTERVAL) as bench:
        realm = bench.connect(TENANT_WEBHOOK)
        wait_drained(bench.stack, QUEUES, quiet=1.0, timeout=120)  # the backfill of the new connection
        results["latency_webhook"] = _latency_webhook(bench, realm, webhook_samples)
        report.say(f"  webhook path: {results['latency_webhook']}")
        if results["latency_webhook"]["measurable"]:
            results["latency_poll"] = _latency_poll(bench, realm, poll_samples)
        else:
            results["latency_poll"] = _latency_poll(bench, realm, 1)
        report.say(f"  poll path: {results['latency_poll']}")
    if not results["latency_poll"]["measurable"] and not results["latency_webhook"]["measurable"]:
        results["bulk_poll"] = {"measurable": False, "reason": "the QBO → CRM path does not work yet (see latency)"}
        return results
    with start_bench(pollers=1, function_concurrency=2, poll_interval_seconds=POLL_INTERVAL) as bench:
        bench.qbo.set_webhooks(auto=False)
        realm = bench.connect(TENANT_BULK)
        wait_drained(bench.stack, QUEUES, quiet=1.0, timeout=120)
        results["first_poll_after_connect"] = _idle_poll(bench)  # the import of what the company had
        results["idle_poll"] = _idle_poll(bench)
        report.say(f"  idle poll (no changes): {results['idle_poll']['qbo_calls']} QBO calls "
                   f"{results['idle_poll']['qbo_breakdown']}, {results['idle_poll']['crm_calls']} CRM calls")
        results["bulk_poll"] = _bulk(bench, realm, bulk_customers, bulk_reps)
    return results
