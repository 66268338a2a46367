"""Ingest cost (issue 8 §1): the `POST /webhooks/crm` handler in-process, events per second and p99, side by
side with a baseline that makes only the unavoidable AWS calls (one DynamoDB write, one SQS send) on the
same moto; target ≤ 1.5× the baseline.

Both sides run sequentially in this process against the stack's moto server, with the same boto3 clients
(`qbsync.aws_clients.client`, which the handler uses too). The handler is invoked exactly as the local API
Gateway invokes it (`LocalFunction.invoke` with a payload-2.0 event built by `qbsync_local.api_gateway`),
minus the HTTP hop. Events are signed and wrapped before each round starts: signing is the CRM's work and
building the event is API Gateway's. Rounds alternate handler, baseline, handler, ... (the first side
alternating too), each starting from an empty queue (moto's FIFO send compares with every queued message),
so that load on this shared machine hits both alike; figures are medians over rounds, and the ratio is taken
per round.

The AWS calls the handler makes per event are counted as well: they explain most of the gap. Since issue 8 they
are the consistent reads of the tenant's routing (`qbsync.sync.event_routing.TenantConnections`, nothing
remembered between events: the tenant record for its default company, then that company's status; one
`GetItem` when the event names its company), the `SendMessage` and one conditional `PutItem` (the webhook-id
marker). The README's figure was measured when the default company was remembered for 10 s (one `GetItem`).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from bench.harness import median, percentile, report, start_bench

TENANT = "bench_ingest"
TARGET_RATIO = 1.5


def _events(bench: Any, count: int) -> list[tuple[dict[str, Any], str]]:
    """(API Gateway event, raw body) per webhook, each a new invoice.sent with its own webhook id."""
    from werkzeug.test import EnvironBuilder

    from crm_emulator import builders as b
    from qbsync_local.api_gateway import BoundRoute, build_event

    function = bench.stack.functions["CrmWebhookFunction"]
    route = BoundRoute("POST", "/webhooks/crm", function, None)
    sender = bench.sender()
    prepared = []
    for _ in range(count):
        envelope = b.invoice_sent(TENANT)
        webhook = sender.prepare(envelope)
        request = EnvironBuilder(path="/webhooks/crm", method="POST", data=webhook.body, base_url=bench.stack.api.url,
                                 headers={**webhook.headers, "content-type": "application/json"}).get_request()
        prepared.append((build_event(request, route, {}, webhook.body), webhook.body.decode()))
    return prepared


def _handler_round(bench: Any, events: list[tuple[dict[str, Any], str]]) -> list[float]:
    function = bench.stack.functions["CrmWebhookFunction"]
    timings = []
    for event, _ in events:
        started = time.perf_counter()
        answer = function.invoke(event)
        timings.append(time.perf_counter() - started)
        if answer.get("statusCode") != 202:
            raise RuntimeError(f"the handler answered {answer.get('statusCode')}: {answer.get('body')}")
    return timings


def _baseline_round(bench: Any, events: list[tuple[dict[str, Any], str]]) -> list[float]:
    from qbsync.aws_clients import client

    dynamodb, sqs = client("dynamodb"), client("sqs")
    table = bench.stack.deployed.physical_ids["IdempotencyTable"]
    queue_url = bench.stack.queue_url("CrmEventsQueue")
    timings = []
    for _, body in events:
        key = f"baseline#{uuid.uuid4().hex}"
        started = time.perf_counter()
        dynamodb.put_item(TableName=table, ConditionExpression="attribute_not_exists(id)", Item={
            "id": {"S": key}, "status": {"S": "COMPLETED"}, "expiration": {"N": str(int(time.time()) + 3600)}})
        sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageGroupId=key, MessageDeduplicationId=key)
        timings.append(time.perf_counter() - started)
    return timings


def _empty_queue(bench: Any) -> None:
    """Take the round's messages off the queue (moto's FIFO send compares with every message still queued,
    so a growing queue would slow later rounds); PurgeQueue is allowed once a minute only."""
    sqs = bench.stack.aws_client("sqs")
    url = bench.stack.queue_url("CrmEventsQueue")
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=60).get("Messages", [])
        if not messages:
            return
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


def run(*, rounds: int = 5, per_round: int = 200) -> dict[str, Any]:
    report.say(f"ingest: {rounds} alternating rounds of {per_round} webhooks, handler vs 1 DynamoDB write + 1 SQS send")
    with start_bench(runners=False, pollers=1, function_concurrency=1) as bench:
        bench.connect(TENANT)
        _handler_round(bench, _events(bench, 20))  # warm: the container, clients and secrets are cached
        _baseline_round(bench, _events(bench, 20))
        _empty_queue(bench)
        bench.counter.reset()
        handler_rounds, baseline_rounds = [], []
        for index in range(rounds):
            events = _events(bench, per_round)
            # Both sides start from an empty queue, and take turns going first.
            sides = [(handler_rounds, _handler_round), (baseline_rounds, _baseline_round)]
            for timings, side in sides if index % 2 == 0 else reversed(sides):
                timings.append(side(bench, events))
                _empty_queue(bench)
        calls = bench.counter.snapshot().get("CrmWebhookFunction", {})
        invocations = bench.counter.invocations.get("CrmWebhookFunction", 1)

    def summary(rounds_timings: list[list[float]]) -> dict[str, float]:
        return {
            "events_per_s_median": round(median(len(r) / sum(r) for r in rounds_timings), 1),
            "mean_ms_median": round(median(1000 * sum(r) / len(r) for r in rounds_timings), 2),
            "p50_ms_median": round(median(1000 * percentile(r, 50) for r in rounds_timings), 2),
            "p99_ms_median": round(median(1000 * percentile(r, 99) for r in rounds_timings), 2),
        }

    handler, baseline = summary(handler_rounds), summary(baseline_rounds)
    cost_ratio = median((sum(h) / len(h)) / (sum(b) / len(b)) for h, b in zip(handler_rounds, baseline_rounds))
    p99_ratio = median(percentile(h, 99) / percentile(b, 99) for h, b in zip(handler_rounds, baseline_rounds))
    result = {
        "rounds": rounds, "events_per_round": per_round,
        "handler": handler, "baseline": baseline,
        "cost_ratio_median": round(cost_ratio, 3), "p99_ratio_median": round(p99_ratio, 3),
        "handler_aws_calls_per_event": {call: round(n / invocations, 2) for call, n in sorted(calls.items())},
        "target_ratio": TARGET_RATIO,
        "met": cost_ratio <= TARGET_RATIO and p99_ratio <= TARGET_RATIO,
    }
    report.say(f"  handler  {handler['events_per_s_median']:6.1f} ev/s  p99 {handler['p99_ms_median']:.1f} ms")
    report.say(f"  baseline {baseline['events_per_s_median']:6.1f} ev/s  p99 {baseline['p99_ms_median']:.1f} ms")
    report.say(f"  ratio ×{cost_ratio:.2f} per event, ×{p99_ratio:.2f} p99; handler AWS calls per event "
               f"{json.dumps(result['handler_aws_calls_per_event'])}")
    return result
