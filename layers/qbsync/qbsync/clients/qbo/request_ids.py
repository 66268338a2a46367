"""Deterministic QBO `requestid`s, so a write retried after a lost answer is answered, not done twice.

QBO replays the original response for a `requestid` it has seen (per company) instead of executing the
request again (QBO.md §2.1). The id must therefore come from what the write *is* (its business key), never
from a clock or a random source: the Lambda that retries after a timeout, and the one SQS redelivers the
message to an hour later, must both send the same id.

The id is the first 32 hex digits (128 bits) of a SHA-256 over the parts, so it fits both QBO limits:
50 characters for a request, 36 for a batch request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

MAX_REQUEST_ID_LENGTH = 50
MAX_BATCH_REQUEST_ID_LENGTH = 36
_HEX_DIGITS = 32

# A business key: who and what, e.g. ("tenant-1", "crm-event-42", "create-invoice").
RequestKey = Sequence[str | int]


def request_id(parts: RequestKey) -> str:
    """The requestid for these parts, joined unambiguously: ("a:b", "c") differs from ("a", "b:c")."""
    if isinstance(parts, (str, bytes)):
        raise TypeError("pass the business key as a sequence of parts, e.g. (tenant_id, event_id, step)")
    if not parts:
        raise ValueError("a request key needs at least one part")
    texts = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (str, int)):
            raise TypeError(f"request key parts are str or int, not {type(part).__name__}")
        text = str(part)
        if not text:
            raise ValueError("a request key part is empty (a missing tenant or event id?)")
        texts.append(text)
    canonical = json.dumps(texts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_HEX_DIGITS]
