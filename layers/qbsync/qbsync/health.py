"""GET /health: which of our tables and queues answer. No secrets, no URLs, no ARNs in the answer."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

from qbsync import __version__


class Probe(Protocol):
    def reachable(self, name: str) -> bool: ...


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    tables: dict[str, bool]
    queues: dict[str, bool]


def check_health(
    *, tables: dict[str, str], queues: dict[str, str], table_probe: Probe, queue_probe: Probe
) -> HealthReport:
    # Keys are our logical names ("connections", "crm_events_dlq"), never the physical names.
    table_results = {logical: table_probe.reachable(name) for logical, name in tables.items()}
    queue_results = {logical: queue_probe.reachable(url) for logical, url in queues.items()}
    healthy = all(table_results.values()) and all(queue_results.values())
    return HealthReport(
        status="ok" if healthy else "degraded",
        version=__version__,
        tables=table_results,
        queues=queue_results,
    )
