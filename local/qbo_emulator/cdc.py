"""Change data capture (QBO.md §3): what changed since a moment, up to 1000 objects, deletions as stubs.

When more than 1000 objects changed, the response keeps the OLDEST changes, so a client that continues
from the newest LastUpdatedTime it received never skips anything. changedSince is inclusive at whole-second
precision (what clients see in MetaData), so the boundary object may come back again - harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .company import Company
from .entities import lookup
from .entities.base import deleted_stub
from .errors import QboFault, business_error, required_param
from .query import parse_moment

MAX_OBJECTS = 1000
LOOKBACK = timedelta(days=30)


def run_cdc(
    company: Company, entities_param: str | None, changed_since_param: str | None, now: datetime
) -> list[dict[str, Any]]:
    """Returns the CDCResponse array."""
    if not entities_param:
        raise required_param("entities")
    if not changed_since_param:
        raise required_param("changedSince")
    etypes = []
    for name in (part.strip() for part in entities_param.split(",")):
        etype = lookup(name)
        if etype is None or not etype.cdc_supported:
            raise business_error(
                f"Entity {name!r} is not supported by change data capture", element="entities"
            )
        if etype not in etypes:
            etypes.append(etype)
    try:
        since = parse_moment(changed_since_param, company)
    except ValueError:
        raise business_error(
            f"changedSince {changed_since_param!r} is not an ISO-8601 date or date-time",
            element="changedSince",
        ) from None
    if since < now - LOOKBACK:
        text = f"Operation cdc with changedSince date {changed_since_param} which is older than fixed days is not supported."
        raise QboFault("6000", text, text)
    with company.lock:
        changed = []
        for etype in etypes:
            for record in company.store.every(etype.name):
                if record.updated.replace(microsecond=0) >= since:
                    changed.append((record.updated, record.seq, etype, record))
        changed.sort(key=lambda item: (item[0], item[1]))
        kept = changed[:MAX_OBJECTS]
        groups = []
        for etype in etypes:
            mine = [item for item in kept if item[2] is etype]
            if not mine:
                continue
            # Within an entity: active objects by last-updated time, then deleted ones.
            mine.sort(key=lambda item: (item[3].deleted, item[0], item[1]))
            objects = [
                deleted_stub(company, r) if r.deleted else etype.render(company, r) for _, _, _, r in mine
            ]
            groups.append({etype.name: objects, "startPosition": 1, "maxResults": len(objects)})
    return [{"QueryResponse": groups or [{}]}]
