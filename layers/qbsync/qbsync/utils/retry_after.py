"""`Retry-After` (RFC 9110 §10.2.3), shared by the QBO and CRM clients: delta-seconds or an HTTP-date."""

from __future__ import annotations

from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from now; None when the header is absent or unreadable (delta-seconds are whole,
    non-negative numbers per the RFC); a date in the past means "now"."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:  # HTTP-dates are always GMT
        return None
    return max(0.0, moment.timestamp() - now)
