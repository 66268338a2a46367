"""Concurrent local invocations must not share Powertools' metric set (in Lambda each container is its own
process): one invocation's `log_metrics` flush publishes only its own metrics and never empties another's.
Without the isolation the second flush finds the set emptied (`Must contain at least one metric`, a 500)."""

from __future__ import annotations

import contextlib
import io
import json
import threading

from aws_lambda_powertools.metrics import MetricUnit

from qbsync_local.lambda_runtime import isolate_metrics


def test_each_concurrent_invocation_flushes_only_its_own_metrics():
    isolate_metrics()
    from qbsync.observability import metrics

    first_added, second_flushed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    @metrics.log_metrics(raise_on_empty_metrics=True)
    def handler(event, context):
        metrics.add_metric(name=event["name"], unit=MetricUnit.Count, value=1)
        if event["name"] == "First":
            first_added.set()
            second_flushed.wait(10)  # the other invocation adds *and flushes* while this one is running
        return event["name"]

    def invoke(name: str) -> None:
        try:
            handler({"name": name}, None)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        first = threading.Thread(target=invoke, args=("First",))
        first.start()
        assert first_added.wait(10)
        second = threading.Thread(target=invoke, args=("Second",))
        second.start()
        second.join(10)
        second_flushed.set()
        first.join(10)

    assert errors == []
    lines = [json.loads(line) for line in output.getvalue().splitlines() if line.startswith("{")]
    published = [[m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]] for line in lines]
    assert published == [["Second"], ["First"]]
    assert all(line["service"] == "qbsync" for line in lines)
