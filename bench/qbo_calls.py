"""QBO calls per operation, from the QBO emulator's own request counters (issue 8 §1).

One event at a time through the whole path (signed webhook → queue → worker → QBO → CRM), the queue drained
before and after, so the counter difference is that event's cost. Besides QBO calls, each event's CRM calls
and the AWS calls its two functions made (the ingest and the worker) are recorded: the capacity model
(bench/CAPACITY.md) is built from these per-event costs.

QBO webhooks are held back during the measurement (the emulator queues them): otherwise every change would
also start a poll, whose CDC call would be counted against the event.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench.harness import Bench, median, qbo_api_breakdown, qbo_api_calls, report, start_bench, wait_drained

TENANT = "bench_calls"
TARGETS = {
    "invoice_known_customer_known_items": ("==", 1),
    "invoice_new_customer_known_items": ("<=", 3),
    "sales_receipt_known_customer": ("==", 1),
}


def _met(op: str, value: float) -> bool | None:
    if op not in TARGETS:
        return None
    kind, target = TARGETS[op]
    return value == target if kind == "==" else value <= target


class EventCost:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.sender = bench.sender()

    def measure(self, event: dict[str, Any]) -> dict[str, Any]:
        bench = self.bench
        wait_drained(bench.stack, ("CrmEventsQueue", "PollJobsQueue"), quiet=0.2)
        qbo_before, crm_before = bench.qbo.counters(), bench.crm.counters()
        bench.counter.reset()
        answer = self.sender.send(event)
        if answer.status_code != 202:
            raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text[:200]}")
        wait_drained(bench.stack, ("CrmEventsQueue",), quiet=0.3)
        qbo_after, crm_after = bench.qbo.counters(), bench.crm.counters()
        breakdown = {k: v - qbo_api_breakdown(qbo_before).get(k, 0) for k, v in qbo_api_breakdown(qbo_after).items()}
        aws = bench.counter.snapshot()
        return {
            "qbo_calls": qbo_api_calls(qbo_after) - qbo_api_calls(qbo_before),
            "qbo_breakdown": {k: v for k, v in breakdown.items() if v},
            "oauth_calls": (qbo_after["total"] - qbo_api_calls(qbo_after)) - (
                qbo_before["total"] - qbo_api_calls(qbo_before)),
            "crm_calls": crm_after["calls"] - crm_before["calls"],
            "aws_calls": aws,
            "invocations": dict(bench.counter.invocations),
        }


def _rep_events(rep: int, known: dict[str, Any], lines: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """One repetition: every operation once, each follow-up event continuing an earlier invoice."""
    from crm_emulator import builders as b

    a = b.invoice_sent(TENANT, customer=known, lines=lines)
    a_updated = b.invoice_updated(TENANT, invoice=a["data"],
                                  lines=[*lines, b.line("Extra hours", 1, "120.00", sku="CONSULT-HR")])
    a_part = b.invoice_partially_paid(TENANT, invoice=a_updated["data"], amount="100.00")
    a_paid = b.invoice_paid(TENANT, invoice=a_part["data"])
    # builders.customer() names every contact "Jane Doe" of "Doe Design LLC": a new customer needs its own
    # name, or QBO's unique DisplayName rule (6240) sends it down the clash path, measured on its own below.
    newcomer = b.customer(name=f"Nina Newcomer {rep}", company=f"Newcomer {rep} Ltd")
    new_customer = b.invoice_sent(TENANT, customer=newcomer, lines=lines)
    c = b.invoice_sent(TENANT, customer=known, lines=lines)
    c_part = b.invoice_partially_paid(TENANT, invoice=c["data"], amount="50.00")
    new_item = [b.line(f"Bench product {rep}", 1, "10.00", sku=f"BENCH-NEW-{rep}")]
    return [
        ("invoice_known_customer_known_items", a),
        ("invoice_new_customer_known_items", new_customer),
        ("sales_receipt_known_customer", b.payment_succeeded(TENANT, customer=known, lines=lines)),
        ("sales_receipt_new_customer", b.payment_succeeded(
            TENANT, customer=b.customer(name=f"Rita Receipt {rep}", company=f"Receipts {rep} Inc"), lines=lines)),
        ("invoice_new_customer_name_clash", b.invoice_sent(TENANT, customer=b.customer(
            name="Jane Doe", company=known["company"]), lines=lines)),
        ("invoice_known_customer_new_item", b.invoice_sent(TENANT, customer=known, lines=new_item)),
        ("invoice_updated", a_updated),
        ("invoice_partially_paid", a_part),
        ("invoice_paid", a_paid),
        ("invoice_voided", b.invoice_voided(TENANT, invoice=new_customer["data"])),
        ("invoice_sent_known_customer_again", c),
        ("invoice_partially_paid_again", c_part),
        ("invoice_deleted_with_one_payment", b.invoice_deleted(TENANT, invoice=c_part["data"])),
    ]


def run(*, reps: int = 5) -> dict[str, Any]:
    from crm_emulator import builders as b

    report.say(f"qbo_calls: {reps} repetitions of each operation, one event at a time")
    samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with start_bench(pollers=2, function_concurrency=2) as bench:
        bench.qbo.set_webhooks(auto=False)
        bench.connect(TENANT)
        cost = EventCost(bench)
        known = b.customer(crm_contact_id="con_bench_known", email="known@bench.example.com")
        lines = [b.line("Website redesign", 1, "1500.00", sku="WEB-REDESIGN", taxes=[b.tax("CA sales tax", "8.25")]),
                 b.line("Consulting", "2.5", "120.00", sku="CONSULT-HR", taxes=[b.tax("CA sales tax", "8.25")])]
        cost.measure(b.invoice_sent(TENANT, customer=known, lines=lines))  # the customer and items become known
        for rep in range(reps):
            for operation, event in _rep_events(rep, known, lines):
                samples[operation].append(cost.measure(event))
    results: dict[str, Any] = {}
    for operation, runs in samples.items():
        calls = [s["qbo_calls"] for s in runs]
        value = median(calls)
        results[operation] = {
            "qbo_calls_median": value, "qbo_calls_samples": calls,
            "qbo_breakdown_first": runs[0]["qbo_breakdown"],
            "crm_calls_median": median(s["crm_calls"] for s in runs),
            "oauth_calls_total": sum(s["oauth_calls"] for s in runs),
            "aws_calls_first": runs[0]["aws_calls"],
            "aws_calls_median_by_function": {
                function: median(sum(s["aws_calls"].get(function, {}).values()) for s in runs)
                for function in {f for s in runs for f in s["aws_calls"]}},
            "target": None if operation not in TARGETS else f"{TARGETS[operation][0]} {TARGETS[operation][1]}",
            "met": _met(operation, value),
        }
        report.say(f"  {operation:40s} QBO {value:g} (samples {calls})  CRM {results[operation]['crm_calls_median']:g}")
    return results
