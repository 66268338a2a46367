"""Runs a template function's real handler the way Lambda does: one request per container at a time.

Each container is its own copy of the function's `app.py` module (so module-level state such as a
Powertools resolver is never shared between concurrent requests), up to `concurrency` containers per
function. Our `qbsync` layer package is imported once and shared, as Lambda shares nothing but the code.
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
