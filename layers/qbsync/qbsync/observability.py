"""The one module that owns the logger, tracer and metrics (Powertools).

Every log line is JSON; handlers append tenant_id / event_id / correlation_id with `logger.append_keys`.

Tracing (X-Ray, SPEC F22) is on only where something receives the segments: Lambda with active tracing sets
`AWS_XRAY_DAEMON_ADDRESS` (and a `_X_AMZN_TRACE_ID` per invocation), and `POWERTOOLS_TRACE_DISABLED` turns it
off (the local stack sets it; tests and scripts have no daemon address). When it is off, nothing here imports
the X-Ray SDK: it is a heavy import, and Powertools' `Tracer()` imports it even when disabled (bench/ cold
start). So handlers and code paths use the helpers below, never `Tracer` directly:

    @trace_handler                                   # under the logger's inject_lambda_context
    def handler(event, context): ...

    with traced("crm_event", tenant_id=..., event_id=...):   # a subsegment with searchable annotations
        ...
    annotate(tenant_id=...)                          # on the current (sub)segment

Annotations are for ids an operator searches by (tenant, event, realm): never tokens, payloads or anything
a customer typed. Responses and exceptions are not recorded as metadata for the same reason.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger(service="qbsync")
metrics = Metrics(namespace="QBSync", service="qbsync")

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
# AWS SDK calls (DynamoDB, SQS, Secrets Manager, KMS) become subsegments of their own; HTTP calls to QBO and
# the CRM are traced explicitly (`traced`), so that their URLs (a QBO query quotes customer names) are not
# recorded and requests' outbound trace header is not sent to Intuit or the CRM.
PATCHED_MODULES = ("botocore",)
_TRUTHY = frozenset({"1", "true", "yes", "on", "y", "t"})


def tracing_enabled() -> bool:
    # Lambda's own variables, not qbsync configuration: read here rather than in qbsync.settings. Outside
    # Lambda (LAMBDA_TASK_ROOT unset) or under `sam local` the SDK would have no segment to hang subsegments
    # on, and Powertools' handler decorator fails then.
    environ = os.environ
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return False
    return bool(environ.get("AWS_XRAY_DAEMON_ADDRESS") and environ.get("LAMBDA_TASK_ROOT")
                and not environ.get("AWS_SAM_LOCAL"))


@lru_cache(maxsize=1)
def get_tracer() -> Tracer | None:
    """The process's Tracer, or None when tracing is off (see the module doc). Built on first use, so the
    environment is read at the first invocation, not at import."""
    if not tracing_enabled():
        return None
    try:
        from aws_lambda_powertools import Tracer

        return Tracer(service="qbsync", disabled=False, patch_modules=list(PATCHED_MODULES))
    except ImportError:
        # Active tracing without the SDK in the package: run untraced rather than fail every invocation.
        logger.warning("tracing is enabled but aws-xray-sdk is not installed; running untraced")
        return None


def trace_handler(handler: HandlerT) -> HandlerT:
    """`Tracer.capture_lambda_handler` when tracing is on (ColdStart and Service annotations, one subsegment
    per invocation); the handler itself when it is off. Neither the response nor an exception's text is
    recorded: they can carry payloads."""
    traced_handler: list[Callable[..., Any]] = []

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, **kwargs: Any) -> Any:
        tracer = get_tracer()
        if tracer is None:
            return handler(event, context, **kwargs)
        if not traced_handler:
            traced_handler.append(tracer.capture_lambda_handler(handler, capture_response=False,
                                                                capture_error=False))
        return traced_handler[0](event, context, **kwargs)

    return wrapper  # type: ignore[return-value]


def _searchable(annotations: dict[str, Any]) -> dict[str, str | int | float | bool]:
    return {key: value for key, value in annotations.items() if isinstance(value, (str, int, float, bool))}


def annotate(**annotations: Any) -> None:
    """Annotate the current segment or subsegment (None values are skipped); nothing when tracing is off."""
    tracer = get_tracer()
    if tracer is None:
        return
    for key, value in _searchable(annotations).items():
        tracer.put_annotation(key, value)


@contextmanager
def traced(name: str, **annotations: Any) -> Iterator[None]:
    """A subsegment named `name` with the given annotations (None values skipped); nothing when tracing is
    off. An exception still propagates, and X-Ray marks the subsegment as failed."""
    tracer = get_tracer()
    if tracer is None:
        yield
        return
    with tracer.provider.in_subsegment(name=name) as subsegment:
        # None when there is no segment to hang it on (the SDK then logs "context missing" and goes on).
        for key, value in _searchable(annotations).items() if subsegment is not None else ():
            subsegment.put_annotation(key, value)
        yield
