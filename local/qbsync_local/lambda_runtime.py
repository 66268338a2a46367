"""Runs a template function's real handler the way Lambda does: one request per container at a time.

Each container is its own copy of the function's `app.py` module (so module-level state such as a
Powertools resolver is never shared between concurrent requests), up to `concurrency` containers per
function. Our `qbsync` layer package is imported once and shared, as Lambda shares nothing but the code.

What the shared package would otherwise share between concurrent invocations, and Lambda never does:
- **Powertools metrics.** `Metrics` keeps its metric set on the class (one per process; in Lambda, one per
  container). Concurrent invocations here would add to one set and one `log_metrics` flush would publish
  and clear another invocation's metrics, or fail it (`SchemaValidationError: Must contain at least one
  metric`, a local 500). `isolate_metrics()` gives each thread (an invocation runs on its caller's
  thread) its own metric set, dimensions and metadata; the product code is unchanged.
- Logger keys (`logger.append_keys`) stay shared: concurrent log lines may carry each other's keys locally.
"""

from __future__ import annotations

import importlib.util
import itertools
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from qbsync_local.template import FunctionSpec

from qbsync_local.logs import log
_module_counter = itertools.count()
_isolation_lock = threading.Lock()


class _MetricsPerThread:
    """Stands in for `Metrics.provider`: every attribute is the calling thread's own EMF provider's, built
    from the original (namespace, service, default dimensions) on first use."""

    def __init__(self, original: Any) -> None:
        self._original = original
        self._local = threading.local()

    def own(self) -> Any:
        provider = getattr(self._local, "provider", None)
        if provider is None:
            from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

            template = self._original
            provider = AmazonCloudWatchEMFProvider(
                namespace=template.namespace, service=template.service, metric_set={},
                dimension_set=dict(template.default_dimensions), metadata_set={},
                default_dimensions=dict(template.default_dimensions), function_name=template.function_name)
            self._local.provider = provider
        return provider

    def __getattr__(self, name: str) -> Any:
        return getattr(self.own(), name)

    def log_metrics(self, lambda_handler: Any = None, capture_cold_start_metric: bool = False,
                    raise_on_empty_metrics: bool = False, **kwargs: Any) -> Any:
        # The decorator is built once, when app.py is imported, and calls `self.flush_metrics` after each
        # invocation: with `self` this stand-in, each invocation flushes its own thread's metrics.
        from aws_lambda_powertools.metrics.provider.base import BaseProvider

        if kwargs.get("default_dimensions"):
            raise NotImplementedError("log_metrics(default_dimensions=...) is not isolated per invocation locally")
        return BaseProvider.log_metrics(self, lambda_handler, capture_cold_start_metric=capture_cold_start_metric,
                                        raise_on_empty_metrics=raise_on_empty_metrics, **kwargs)


def isolate_metrics() -> None:
    """Give each concurrent invocation its own Powertools metric set (see the module doc). Runs before the
    first container imports its app.py, so `@metrics.log_metrics` binds to the per-thread stand-in."""
    from qbsync.observability import metrics

    with _isolation_lock:
        if not isinstance(metrics.provider, _MetricsPerThread):
            metrics.provider = _MetricsPerThread(metrics.provider)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str
    invoked_function_arn: str
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._started + self.timeout_seconds - time.monotonic()) * 1000))


class _Container:
    def __init__(self, spec: FunctionSpec) -> None:
        isolate_metrics()
        module_file, _, handler_name = spec.handler.rpartition(".")
        path = spec.code_dir / f"{module_file.replace('.', '/')}.py"
        module_name = f"qbsync_local_fn_{spec.logical_id}_{next(_module_counter)}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise RuntimeError(f"cannot load {path}")
        module: ModuleType = importlib.util.module_from_spec(loader_spec)
        loader_spec.loader.exec_module(module)
        self.handler: Callable[[Any, Any], Any] = getattr(module, handler_name)


class LocalFunction:
    def __init__(self, spec: FunctionSpec, *, physical_name: str, account_id: str, region: str,
                 concurrency: int) -> None:
        self.spec = spec
        self.physical_name = physical_name
        self._arn = f"arn:aws:lambda:{region}:{account_id}:function:{physical_name}"
        self._idle: queue.LifoQueue[_Container] = queue.LifoQueue()
        self._created = 0
        self._concurrency = max(1, concurrency)
        self._lock = threading.Lock()
        self.invocations = 0

    def _acquire(self) -> _Container:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._created < self._concurrency:
                self._created += 1
                create = True
            else:
                create = False
        if create:
            try:
                return _Container(self.spec)
            except BaseException:
                with self._lock:
                    self._created -= 1
                raise
        return self._idle.get()

    def invoke(self, event: Any) -> Any:
        container = self._acquire()
        context = LambdaContext(
            function_name=self.physical_name,
            memory_limit_in_mb=self.spec.memory_size,
            timeout_seconds=self.spec.timeout,
            aws_request_id=str(uuid.uuid4()),
            invoked_function_arn=self._arn,
            log_group_name=f"/aws/lambda/{self.physical_name}",
            _started=time.monotonic(),
        )
        try:
            with self._lock:
                self.invocations += 1
            return container.handler(event, context)
        finally:
            self._idle.put(container)
