"""The one module that owns the logger, tracer and metrics (Powertools).

Every log line is JSON; handlers append tenant_id / event_id / correlation_id with `logger.append_keys`.
The tracer is created lazily: the X-Ray SDK is a heavy import that the webhook ingest path should not pay
for unless tracing is on (see bench/ cold start).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger(service="qbsync")
metrics = Metrics(namespace="QBSync", service="qbsync")


@lru_cache(maxsize=1)
def get_tracer() -> "Tracer":
    from aws_lambda_powertools import Tracer

    return Tracer(service="qbsync")
