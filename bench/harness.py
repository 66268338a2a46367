"""What every benchmark and the chaos run share: the local stack started for measuring, queue runners that
keep SQS FIFO's one-group-in-flight rule, a connect helper, senders, waits, counters and statistics.

Everything runs against `qbsync_local.LocalStack` (moto + the real handlers + our QBO and CRM emulators) in
this process; nothing here is part of a Lambda package.

Why our own queue runners: moto's `ReceiveMessage` snapshots the FIFO groups in flight when a long poll
*starts*, so two pollers long-polling one FIFO queue can be handed two messages of the same group at once
(real SQS never does). The local stack's runners long-poll with several pollers, so a benchmark that needs
per-invoice order (the chaos run) would see reorderings that AWS would never produce. `SerializedReceives`
makes every receive of a queue a short poll taken one at a time, which gives moto a fresh snapshot each
time; the pollers still process their batches concurrently, as Lambda's do. (Reported as a local-stack
fidelity bug, with this as the proposed fix.)
"""

from __future__ import annotations

import collections
import os
import platform
import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
RETURN_URL = "http://localhost/qbsync-bench/return"
QBO_V3_PREFIXES = ("GET /v3/", "POST /v3/")

for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ.setdefault(_name, _value)
os.environ.pop("AWS_PROFILE", None)
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


# ---------------------------------------------------------------------------------------------- statistics
def percentile(values: Iterable[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); p in [0, 100]."""
    data = sorted(values)
    if not data:
        return float("nan")
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gb": memory_gb,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


# ---------------------------------------------------------------------------------------------- waiting
# ---------------------------------------------------------------------------------------------- queues
class SerializedReceives:
    """An SQS client whose `receive_message` calls are short polls taken one at a time (see module doc).
    A long poll is played by repeating short polls until the wait runs out."""

    def __init__(self, sqs: Any, *, idle_sleep: float = 0.1) -> None:
        self._sqs = sqs
        self._lock = threading.Lock()
        self._idle_sleep = idle_sleep
        self._empty_at = 0.0
        self.receives = 0
        self.redelivered = 0  # messages received with ApproximateReceiveCount > 1

    def receive_message(self, **request: Any) -> dict[str, Any]:
        wait = float(request.pop("WaitTimeSeconds", 0) or 0)
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if time.monotonic() - self._empty_at < self._idle_sleep:
                    # Another poller just found nothing: short polls cost moto real work (long polls do
                    # not), so idle pollers share one receive per `idle_sleep`.
                    answer: dict[str, Any] = {}
                else:
                    answer = self._sqs.receive_message(WaitTimeSeconds=0, **request)
                    self.receives += 1
                    if not answer.get("Messages"):
                        self._empty_at = time.monotonic()
            messages = answer.get("Messages") or []
            if messages:
                self.redelivered += sum(
                    1 for m in messages if int((m.get("Attributes") or {}).get("ApproximateReceiveCount", "1")) > 1)
                return answer
            if time.monotonic() >= deadline:
                return answer
            time.sleep(self._idle_sleep)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


class Runners:
    """Lambda's SQS pollers for every queue-fed function of the stack (qbsync_local.QueueRunner), built on
    `SerializedReceives`; stop/start lets a benchmark fill a queue first and then drain it."""

    def __init__(self, stack: Any, *, pollers: int) -> None:
        self._stack = stack
        self._pollers = pollers
        self.clients: dict[str, SerializedReceives] = {}
        self.running: list[Any] = []

    def start(self, only: Iterable[str] | None = None) -> "Runners":
        from qbsync_local.aws import REGION
        from qbsync_local.queue_runner import QueueRunner

        wanted = set(only) if only is not None else None
        for function in self._stack.functions.values():
            for source in function.spec.sqs_sources:
                if wanted is not None and source.queue_logical_id not in wanted:
                    continue
                sqs = self.clients.setdefault(source.queue_logical_id,
                                              SerializedReceives(self._stack.aws_client("sqs")))
                runner = QueueRunner(source=source, function=function, sqs=sqs,
                                     queue_url=self._stack.queue_url(source.queue_logical_id), region=REGION,
                                     retry_delay_seconds=self._stack.config.retry_delay_seconds,
                                     pollers=self._pollers)
                self.running.append(runner.start())
        return self

    def stop(self) -> None:
        for runner in self.running:
            runner.stop()
        self.running.clear()

    @property
    def redelivered(self) -> int:
        return sum(client.redelivered for client in self.clients.values())


_moto_patched = threading.Lock()
_moto_patches: list[str] = []


def patch_moto() -> list[str]:
    """Two local-stack artefacts of moto (in this process) that would otherwise decide the throughput figure;
    idempotent, returns what was patched. Reported as local-stack fidelity bugs (bench/README.md).

    1. SQS cost that grows with the queue's depth. moto recomputes *every* queue attribute - three scans of
       the queue calling `datetime` per message - for each attribute a GetQueueAttributes names, and in
       ReceiveMessage for each message received (its retention check). With 2,000 messages queued one receive
       of 10 takes 1.5-2 s of the process's CPU and a 3-attribute GetQueueAttributes 0.3 s, where real SQS
       costs the same at any depth: a deep backlog starves the handlers. Here both compute the attributes once
       per call; the answers are the same.
    2. DynamoDB conditional writes that are not atomic. DynamoDB applies every single-item write atomically
       (the rate limiter's slots and counters depend on it); moto evaluates the condition and applies the
       update in Python with no lock, so two threads of its server can both pass one condition. Writes are
       serialised here: per-request atomicity, nothing more.
    """
    with _moto_patched:
        if _moto_patches:
            return list(_moto_patches)
        import functools

        import moto.dynamodb.models as dynamodb_models
        import moto.sqs.models as sqs_models

        backend = sqs_models.SQSBackend
        original_attributes = backend.get_queue_attributes

        def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
            if not attribute_names or "All" in attribute_names:
                return original_attributes(self, queue_name, attribute_names)
            queue = self.get_queue(queue_name)
            if any(name not in queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES
                   for name in attribute_names):
                return original_attributes(self, queue_name, attribute_names)  # moto's own error
            attributes = queue.attributes
            return {name: attributes[name] for name in attribute_names if attributes.get(name) is not None}

        def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
            retention = int(self.get_queue(queue_name).message_retention_period)
            return retention + message.sent_timestamp / 1000 > sqs_models.unix_time()

        backend.get_queue_attributes = get_queue_attributes
        backend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
        _moto_patches.append("sqs: queue attributes computed once per call")

        write_lock = threading.RLock()  # re-entrant: transact_write_items calls the single-item writes
        tables = dynamodb_models.DynamoDBBackend
        for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
            def atomic(*args: Any, _write: Any = getattr(tables, name), **kwargs: Any) -> Any:
                with write_lock:
                    return _write(*args, **kwargs)

            setattr(tables, name, functools.wraps(getattr(tables, name))(atomic))
        _moto_patches.append("dynamodb: writes atomic")
        return list(_moto_patches)


def queue_depth(stack: Any, logical_id: str) -> int:
    attributes = stack.aws_client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def wait_drained(stack: Any, queues: Iterable[str] = ("CrmEventsQueue",), *, quiet: float = 1.0,
                 timeout: float = 600.0, interval: float = 0.1) -> float:
    """Wait until every queue has been empty (visible, in flight and delayed) for `quiet` seconds; returns
    the monotonic time the queues were first seen empty. Each look costs moto a scan of the queue: a long
    drain looks less often (`interval`) so the waiting does not compete with the work."""
    queues = list(queues)
    deadline = time.monotonic() + timeout
    empty_since: float | None = None
    while True:
        now = time.monotonic()
        if all(queue_depth(stack, q) == 0 for q in queues):
            empty_since = empty_since or now
            if now - empty_since >= quiet:
                return empty_since
        else:
            empty_since = None
        if now > deadline:
            depths = {q: queue_depth(stack, q) for q in queues}
            raise TimeoutError(f"queues not drained after {timeout:g}s: {depths}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------- calls
class CallCounter:
    """Counts the AWS API calls each local Lambda function makes (botocore's `_make_api_call`, attributed
    to the function whose invocation is running on the thread), and the invocations themselves."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.invocations: collections.Counter[str] = collections.Counter()
        self.invocation_seconds: collections.Counter[str] = collections.Counter()
        self._original: Any = None

    def install(self, stack: Any) -> "CallCounter":
        import botocore.client

        counter = self
        if self._original is None:
            self._original = botocore.client.BaseClient._make_api_call

            def counted(client: Any, operation: str, params: Any) -> Any:
                function = getattr(counter._local, "function", None)
                if function is not None:
                    key = (function, f"{client.meta.service_model.service_name}.{operation}")
                    with counter._lock:
                        counter.calls[key] += 1
                return counter._original(client, operation, params)

            botocore.client.BaseClient._make_api_call = counted
        for name, function in stack.functions.items():
            original_invoke = function.invoke

            def invoke(event: Any, _name: str = name, _invoke: Any = original_invoke) -> Any:
                self._local.function = _name
                started = time.perf_counter()
                try:
                    return _invoke(event)
                finally:
                    self._local.function = None
                    with self._lock:
                        self.invocations[_name] += 1
                        self.invocation_seconds[_name] += time.perf_counter() - started

            function.invoke = invoke
        return self

    def uninstall(self) -> None:
        import botocore.client

        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original
            self._original = None

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.invocations.clear()
            self.invocation_seconds.clear()

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            result: dict[str, dict[str, int]] = collections.defaultdict(dict)
            for (function, call), n in self.calls.items():
                result[function][call] = n
            return dict(result)


def qbo_api_calls(counters: dict[str, Any]) -> int:
    """Accounting API requests (/v3) in a QBO emulator counters snapshot; OAuth calls are not QBO calls."""
    return sum(n for endpoint, n in counters["requests"].items() if endpoint.startswith(QBO_V3_PREFIXES))


def qbo_api_breakdown(counters: dict[str, Any]) -> dict[str, int]:
    return {endpoint: n for endpoint, n in sorted(counters["requests"].items())
            if endpoint.startswith(QBO_V3_PREFIXES)}


# ---------------------------------------------------------------------------------------------- the stack
@dataclass
class Bench:
    """A started local stack plus our runners and counters."""

    stack: Any
    runners: Runners
    counter: CallCounter = field(default_factory=CallCounter)

    @property
    def qbo(self) -> Any:
        return self.stack.qbo_emulator

    @property
    def crm(self) -> Any:
        return self.stack.crm_emulator

    def sender(self) -> Any:
        from crm_emulator.webhooks import CrmWebhookSender
        from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

        return CrmWebhookSender(f"{self.stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])

    def connect(self, tenant_id: str, **company: Any) -> str:
        return connect(self.stack, tenant_id, **company)

    def stop(self) -> None:
        self.runners.stop()
        self.counter.uninstall()
        self.stack.stop()

    def __enter__(self) -> "Bench":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_bench(*, pollers: int = 2, function_concurrency: int = 4, retry_delay_seconds: float = 0,
                poll_interval_seconds: int = 3600, throttle_wait_seconds: float = 1,
                schedules: bool = False, runners: bool = True,
                extra_parameters: dict[str, str] | None = None) -> Bench:
    """The local stack as `make run` has it (handlers logging at INFO, the product default), on free ports,
    with our queue runners.
    `throttle_wait_seconds` is the QboThrottleWaitSeconds template parameter (a 429 without Retry-After is
    waited out that long instead of QBO's 60 s)."""
    from qbsync_local.config import LocalConfig
    from qbsync_local.stack import LocalStack

    patch_moto()
    config = LocalConfig(
        api_port=0, retry_delay_seconds=retry_delay_seconds, poll_interval_seconds=poll_interval_seconds,
        log_level="INFO", function_concurrency=function_concurrency, queue_pollers=pollers,
        extra_parameters={"QboThrottleWaitSeconds": f"{throttle_wait_seconds:g}", **(extra_parameters or {})},
    )
    stack = LocalStack(config, start_queue_runners=False, start_schedules=schedules).start()
    bench = Bench(stack=stack, runners=Runners(stack, pollers=pollers))
    try:
        bench.counter.install(stack)
        if runners:
            bench.runners.start()
    except BaseException:
        bench.stop()
        raise
    return bench


def connect(stack: Any, tenant_id: str, **company: Any) -> str:
    """A new QBO company connected to `tenant_id` through the real OAuth dance (/connect → Intuit's consent,
    which the emulator gives at once → /oauth/callback); returns its realm id."""
    realm = stack.qbo_emulator.create_company(**{"country": "US", **company})
    return reconnect(stack, tenant_id, realm)


def reconnect(stack: Any, tenant_id: str, realm: str) -> str:
    """The OAuth dance for an existing company (a first connect, or the customer reconnecting)."""
    from qbsync.signatures.connect_link import sign_connect_link
    from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

    stack.qbo_emulator.set_consent(realm_id=realm)
    expires = int(time.time()) + 300
    signature = sign_connect_link(DEFAULT_CRM_INBOUND_SECRET, tenant_id=tenant_id, return_url=RETURN_URL,
                                  expires=expires)
    link = requests.Request("GET", f"{stack.api.url}/connect", params={
        "tenant_id": tenant_id, "return_url": RETURN_URL, "expires": str(expires), "signature": signature,
    }).prepare().url
    to_intuit = requests.get(link, allow_redirects=False, timeout=30)
    if to_intuit.status_code != 302:
        raise RuntimeError(f"/connect answered {to_intuit.status_code}: {to_intuit.text[:300]}")
    consent = requests.get(to_intuit.headers["Location"], allow_redirects=False, timeout=30)
    callback = requests.get(consent.headers["Location"], allow_redirects=False, timeout=180)
    if callback.status_code != 302 or "status=connected" not in callback.headers.get("Location", ""):
        raise RuntimeError(f"/oauth/callback answered {callback.status_code}: {callback.text[:300]}")
    return realm


def api_headers() -> dict[str, str]:
    from qbsync_local.config import DEFAULT_API_KEY

    return {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


# ---------------------------------------------------------------------------------------------- output
class Report:
    """Progress lines and tables go to the terminal even while the handlers' own logs (Powertools JSON
    lines, EMF metrics) are sent to a log file, so the table stays readable."""

    def __init__(self) -> None:
        self._out = None
        self.log_path: Path | None = None

    def divert_logs(self, log_path: Path) -> None:
        import sys

        log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        self._out = os.fdopen(os.dup(1), "w", buffering=1)
        log_file = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        self.log_path = log_path

    def say(self, text: str = "") -> None:
        import sys

        (self._out or sys.stdout).write(text + "\n")
        (self._out or sys.stdout).flush()


report = Report()
