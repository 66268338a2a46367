"""Memory (issue 8 §1): peak RSS of a worker handling a batch of 10 events (target ≤ 128 MB).

The worker is the *built* `CrmEventWorkerFunction` (sam build output), run in a fresh interpreter with only
the Lambda paths (its folder, the two layers, the runtime's boto3), the environment the template gives it
(pointing at the local stack's moto and emulators) and a real SQS event: 10 messages received from the CRM
events queue after 10 signed webhooks went through `POST /webhooks/crm`. Each event is an `invoice.sent`
for a new customer with three lines (the heaviest common case: a customer query and create, item lookups,
the invoice, the status push). The child reports its peak resident set (`VmHWM`) after the import and after
the batch; Lambda's "Max Memory Used" is the same figure for its runtime process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import cold_start
from bench.harness import median, report, start_bench

TENANT = "bench_memory"
TARGET_MB = 128

_CHILD = """
import json, resource, sys, time
sys.path[:0] = {paths!r}

def peak_mb():
    # VmHWM: this process's peak resident set. (ru_maxrss would carry the forking parent's peak across
    # exec on Linux.)
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

class Context:
    function_name = "qbsync-bench-CrmEventWorkerFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:qbsync-bench-CrmEventWorkerFunction"
    aws_request_id = "bench-memory"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 150000

import app
after_import = peak_mb()
with open({event_file!r}) as handle:
    event = json.load(handle)
started = time.perf_counter()
result = app.handler(event, Context())
print("BENCH-RESULT " + json.dumps({{"import_mb": after_import, "peak_mb": peak_mb(),
                                     "seconds": time.perf_counter() - started, "result": result}}))
"""


def _batch_events(count: int, batch: int) -> list[dict[str, Any]]:
    from crm_emulator import builders as b

    return [b.invoice_sent(TENANT, customer=b.customer(name=f"Memory Customer {batch}-{i}",
                                                       company=f"Memory {batch}-{i} GmbH"))
            for i in range(count)]


def _receive(bench: Any, count: int) -> list[dict[str, Any]]:
    sqs = bench.stack.aws_client("sqs")
    url = bench.stack.queue_url("CrmEventsQueue")
    messages: list[dict[str, Any]] = []
    while len(messages) < count:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count - len(messages), WaitTimeSeconds=1,
                                  VisibilityTimeout=600, AttributeNames=["All"],
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            raise RuntimeError(f"only {len(messages)} of {count} messages on the queue")
        messages.extend(got)
    return messages


def run(*, runs: int = 3, batch_size: int = 10) -> dict[str, Any]:
    from qbsync_local.aws import REGION
    from qbsync_local.queue_runner import to_lambda_record

    report.say(f"memory: peak RSS of the built worker handling a batch of {batch_size} events ({runs} runs)")
    build_dir = cold_start.ensure_build()
    function_dir = build_dir / "CrmEventWorkerFunction"
    samples = []
    with start_bench(runners=False) as bench, tempfile.TemporaryDirectory() as scratch:
        bench.qbo.set_webhooks(auto=False)
        bench.connect(TENANT)
        runtime = cold_start.runtime_libs(Path(scratch) / "runtime")
        paths = [str(function_dir), str(build_dir / "QbsyncLayer" / "python"),
                 str(build_dir / "DependenciesLayer" / "python"), str(runtime)]
        sqs = bench.stack.aws_client("sqs")
        url = bench.stack.queue_url("CrmEventsQueue")
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sender = bench.sender()
        for batch in range(runs):
            for event in _batch_events(batch_size, batch):
                answer = sender.send(event)
                if answer.status_code != 202:
                    raise RuntimeError(f"webhook answered {answer.status_code}")
            messages = _receive(bench, batch_size)
            event_file = Path(scratch) / f"batch-{batch}.json"
            event_file.write_text(json.dumps({"Records": [to_lambda_record(m, queue_arn=arn, region=REGION)
                                                          for m in messages]}))
            applied_before = len(bench.crm.invoice_accounting(TENANT))
            child = subprocess.run(
                [sys.executable, "-I", "-S", "-c", _CHILD.format(paths=paths, event_file=str(event_file))],
                env=dict(os.environ), capture_output=True, text=True, timeout=600, check=False, cwd=scratch)
            line = next((l for l in child.stdout.splitlines() if l.startswith("BENCH-RESULT ")), None)
            if child.returncode != 0 or line is None:
                raise RuntimeError(f"the worker child failed: {child.stderr[-2000:]}")
            outcome = json.loads(line.removeprefix("BENCH-RESULT "))
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            outcome["failed_records"] = len((outcome.get("result") or {}).get("batchItemFailures", []))
            outcome["invoices_applied"] = len(bench.crm.invoice_accounting(TENANT)) - applied_before
            samples.append(outcome)
            report.say(f"  batch {batch + 1}: peak {outcome['peak_mb']:.1f} MB (after import "
                       f"{outcome['import_mb']:.1f} MB), {outcome['invoices_applied']}/{batch_size} applied in "
                       f"{outcome['seconds']:.1f} s")
    peak = max(s["peak_mb"] for s in samples)
    return {
        "batch_size": batch_size, "runs": runs,
        "peak_mb_max": round(peak, 1), "peak_mb_median": round(median(s["peak_mb"] for s in samples), 1),
        "after_import_mb_median": round(median(s["import_mb"] for s in samples), 1),
        "records_failed": sum(s["failed_records"] for s in samples),
        "invoices_applied": sum(s["invoices_applied"] for s in samples),
        "target_mb": TARGET_MB,
        "met": peak <= TARGET_MB and all(s["invoices_applied"] == batch_size for s in samples),
    }
