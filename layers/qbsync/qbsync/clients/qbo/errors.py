"""Every failure talking to QBO or Intuit OAuth, and the one function that turns an answer into one.

QBO answers errors in several shapes (QBO.md §6.1, §1.6, §8.2), and `error_from_response` reads them all:
- the data service's JSON `{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type"}}`,
  sometimes with HTTP 200;
- the gateway's lower-case `{"fault": {"error": [{"message", "detail", "code"}], "type"}}` (401/403),
  whose code may only be in the message (`errorCode=003200`);
- an XML `<Fault type=..><Error code=..><Message/><Detail/></Error></Fault>` (throttling, even when JSON
  was asked for);
- Intuit OAuth's `{"error": "invalid_grant", "error_description": ...}`, with a 400 or a 200.

A known QBO code decides the class before the HTTP status does: QBO has sent 3001 (throttled) with 403 as
well as 429. Batch items carry a bare fault, classified by the same rules through `error_from_fault`.

Retryable: `QboThrottledError`, `QboServerError`, `QboConnectionError` (also `qbsync.errors.RetryableError`).
Everything else is permanent: retrying the same request cannot succeed.

Messages carry the HTTP status, QBO's code, Message and Detail (truncated; Detail is what says what is
wrong) and never our request, our headers or a token. Do not log `str(error)` at info level anyway: QBO's
Detail can quote customer data. Log `code`, `qbo_code` and `intuit_tid`.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qbsync.errors import RetryableError, UpstreamError
from qbsync.utils.retry_after import parse_retry_after

MAX_TEXT_CHARS = 500
TRANSACTION_ID_HEADERS = ("intuit_tid", "intuit-tid")

# `Detail` of a 6240: "The name supplied already exists. : Id=123" (QBO.md §4.1, §8.4).
_EXISTING_ID = re.compile(r"\bId\s*=\s*(\d+)")
# Gateway and throttle messages: "message=ThrottleExceeded; errorCode=003001; statusCode=429".
_CODE_IN_MESSAGE = re.compile(r"errorCode\s*=\s*0*(\d+)")


@dataclass(frozen=True)
class QboFaultEntry:
    """One entry of a fault's `Error` list."""

    code: str | None
    message: str
    detail: str
    element: str | None = None


class QboError(UpstreamError):
    """Base of every QBO / Intuit OAuth failure. `upstream_status` is QBO's HTTP status (None when there was
    no answer, or for a batch item); `intuit_tid` is Intuit's transaction id, to quote to Intuit support."""

    code = "qbo_error"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        intuit_tid: str | None = None,
        fault_type: str | None = None,
        entries: Sequence[QboFaultEntry] = (),
        retry_after: float | None = None,
    ) -> None:
        details: dict[str, Any] = {}
        if upstream_status is not None:
            details["upstream_status"] = upstream_status
        if entries and entries[0].code:
            details["qbo_code"] = entries[0].code
        if intuit_tid:
            details["intuit_tid"] = intuit_tid
        super().__init__(message, details=details)
        self.upstream_status = upstream_status
        self.intuit_tid = intuit_tid
        self.fault_type = fault_type
        self.entries = tuple(entries)
        self.retry_after = retry_after

    @property
    def qbo_code(self) -> str | None:
        return self.entries[0].code if self.entries else None

    @property
    def qbo_detail(self) -> str:
        return self.entries[0].detail if self.entries else ""


class QboRetryableError(QboError, RetryableError):
    code = "qbo_unavailable"
    http_status = 503
    retryable = True


class QboThrottledError(QboRetryableError):
    """429 / 3001. `retry_after` is Retry-After in seconds when Intuit sent one (the policy waits 60 s
    when not)."""

    code = "qbo_throttled"


class QboServerError(QboRetryableError):
    """5xx, SystemFault, 10000+, or a success answer we could not read."""

    code = "qbo_server_error"


class QboConnectionError(QboRetryableError):
    """No answer (timeout, connection dropped). A write may or may not have happened: the client retries it
    with the same requestid, so QBO answers the original instead of writing twice."""

    code = "qbo_unreachable"


class QboAuthError(QboError):
    """401 / 3200 (bad or expired access token), 403 / 3100 (scope or role), 120, 3201: refresh the
    token or reconnect."""

    code = "qbo_auth_failed"


class QboInvalidGrantError(QboAuthError):
    """OAuth `invalid_grant`: the refresh token (or code) is expired, superseded or revoked. Reconnect."""

    code = "qbo_invalid_grant"


class QboStaleObjectError(QboError):
    """5010: the SyncToken sent is not the current one. Read the object again, then retry the change."""

    code = "qbo_stale_object"


class QboNotFoundError(QboError):
    """610 (or a bare 404): no such object, or it references an inactive one."""

    code = "qbo_not_found"


class QboDuplicateNameError(QboError):
    """6240: DisplayName already used by a customer, vendor or employee; `existing_id` is that record's Id."""

    code = "qbo_duplicate_name"

    @property
    def existing_id(self) -> str | None:
        for entry in self.entries:
            match = _EXISTING_ID.search(entry.detail) or _EXISTING_ID.search(entry.message)
            if match:
                return match.group(1)
        return None


class QboDuplicateDocNumberError(QboError):
    """6140: DocNumber already used (duplicate checking is on)."""

    code = "qbo_duplicate_doc_number"


class QboValidationError(QboError):
    """2xxx, 6000 and every other request QBO refuses; `qbo_detail` says why."""

    code = "qbo_validation_failed"


class QboQueryError(QboValidationError):
    """4000 (parse error), 4001 (property not queryable), 4002 (processing error)."""

    code = "qbo_invalid_query"


class QboCdcWindowError(QboValidationError):
    """A CDC window QBO cannot answer: older than 30 days, or too many changes to narrow. Re-sync by query."""

    code = "qbo_cdc_window"


_CLASS_BY_CODE: dict[str, type[QboError]] = {
    "3001": QboThrottledError,
    "120": QboAuthError,
    "3100": QboAuthError,
    "3200": QboAuthError,
    "3201": QboAuthError,
    "5010": QboStaleObjectError,
    "6240": QboDuplicateNameError,
    "6140": QboDuplicateDocNumberError,
    "610": QboNotFoundError,
    "4000": QboQueryError,
    "4001": QboQueryError,
    "4002": QboQueryError,
}
_SERVER_CODES_FROM = 10000  # 10000 "An application error has occurred" and above: Intuit-side (QBO.md §6.2)
_AUTH_FAULT_TYPES = {"authenticationfault", "authorizationfault", "authentication", "authorization"}
_OAUTH_SERVER_ERRORS = {"server_error", "temporarily_unavailable"}


def _error_class(status: int, fault_type: str | None, codes: Sequence[str]) -> type[QboError]:
    for code in codes:
        if code in _CLASS_BY_CODE:
            return _CLASS_BY_CODE[code]
    if any(code.isdigit() and int(code) >= _SERVER_CODES_FROM for code in codes):
        return QboServerError
    kind = (fault_type or "").lower()
    if status == 429:
        return QboThrottledError
    if status in (401, 403) or kind in _AUTH_FAULT_TYPES:
        return QboAuthError
    if status >= 500 or kind == "systemfault":
        return QboServerError
    if status == 404:
        return QboNotFoundError
    return QboValidationError


def _clip(text: object) -> str:
    return str(text or "")[:MAX_TEXT_CHARS]


def _message(status: int | None, entries: Sequence[QboFaultEntry], fallback: str) -> str:
    prefix = f"QBO answered {status}" if status is not None else "QBO refused a batch item"
    if not entries:
        return f"{prefix}: {fallback}"
    first = entries[0]
    code = f" {first.code}" if first.code else ""
    detail = f" ({first.detail})" if first.detail and first.detail != first.message else ""
    return f"{prefix}{code}: {first.message}{detail}"


def _normalise_code(raw: object, message: str) -> str | None:
    if raw not in (None, ""):
        text = str(raw).strip()
        return (text.lstrip("0") or "0") if text.isdigit() else text
    found = _CODE_IN_MESSAGE.search(message)
    return found.group(1) if found else None


def _get(mapping: Mapping[str, Any], name: str) -> Any:
    """QBO spells the same key `Fault` or `fault`, `Message` or `message`."""
    if name in mapping:
        return mapping[name]
    lower = name.lower()
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() == lower:
            return value
    return None


def _entries_from_json(raw_entries: object) -> list[QboFaultEntry]:
    if isinstance(raw_entries, Mapping):
        raw_entries = [raw_entries]
    if not isinstance(raw_entries, list):
        return []
    entries = []
    for raw in raw_entries:
        if not isinstance(raw, Mapping):
            continue
        message = _clip(_get(raw, "Message"))
        element = _get(raw, "element")
        entries.append(
            QboFaultEntry(
                code=_normalise_code(_get(raw, "code"), message),
                message=message,
                detail=_clip(_get(raw, "Detail")),
                element=str(element) if element not in (None, "") else None,
            )
        )
    return entries


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml(body: bytes) -> tuple[str | None, list[QboFaultEntry]]:
    # No DTDs from the network: refuse rather than let an entity expand.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None, []
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        text = body.decode("utf-8", "replace")
        code = _normalise_code(None, text)
        return None, [QboFaultEntry(code=code, message=_clip(text), detail="")] if code else []
    fault_type: str | None = None
    entries: list[QboFaultEntry] = []
    for element in root.iter():
        name = _local_name(element.tag)
        if name == "Fault":
            fault_type = element.get("type")
        elif name == "Error":
            texts = {_local_name(child.tag): (child.text or "").strip() for child in element}
            message = _clip(texts.get("Message"))
            entries.append(
                QboFaultEntry(
                    code=_normalise_code(element.get("code"), message),
                    message=message,
                    detail=_clip(texts.get("Detail")),
                    element=element.get("element"),
                )
            )
    return fault_type, entries


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    return parse_retry_after(value, now=now)


def intuit_tid(headers: Mapping[str, str]) -> str | None:
    for name in TRANSACTION_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)[:200]
    return None


def error_from_fault(
    fault: Mapping[str, Any],
    *,
    upstream_status: int | None,
    intuit_tid: str | None = None,
    retry_after: float | None = None,
) -> QboError:
    """The error for an already-parsed `Fault` object (a batch item's, or the body of an answer)."""
    fault_type = _get(fault, "type")
    entries = _entries_from_json(_get(fault, "Error"))
    codes = [entry.code for entry in entries if entry.code]
    error_class = _error_class(upstream_status or 200, fault_type, codes)
    return error_class(
        _message(upstream_status, entries, str(fault_type or "fault without details")),
        upstream_status=upstream_status,
        intuit_tid=intuit_tid,
        fault_type=str(fault_type) if fault_type else None,
        entries=entries,
        retry_after=retry_after,
    )


def _oauth_error(
    status: int, document: Mapping[str, Any], tid: str | None, retry_after: float | None
) -> QboError:
    name = str(document["error"])
    description = _clip(document.get("error_description"))
    if name == "invalid_grant":
        error_class: type[QboError] = QboInvalidGrantError
    elif status == 429:
        error_class = QboThrottledError
    elif status >= 500 or name in _OAUTH_SERVER_ERRORS:
        error_class = QboServerError
    else:
        error_class = QboAuthError
    entry = QboFaultEntry(code=name, message=name, detail=description)
    return error_class(
        _message(status, [entry], name),
        upstream_status=status,
        intuit_tid=tid,
        fault_type="oauth",
        entries=[entry],
        retry_after=retry_after,
    )


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> QboError | None:
    """The error QBO or Intuit OAuth meant by this answer, or None when it is a success.

    A 2xx is a success unless its body is a fault or an OAuth error (QBO.md §6.1, §8.2). `headers` must be
    case-insensitive (requests' are). `now` (epoch seconds) reads an HTTP-date Retry-After; default: the
    clock.
    """
    tid = intuit_tid(headers)
    retry_after = _retry_after_seconds(headers.get("Retry-After"), time.time() if now is None else now)
    stripped = body.lstrip()
    document: Any = None
    fault_type: str | None = None
    entries: list[QboFaultEntry] = []

    if stripped.startswith((b"{", b"[")):
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None
    if isinstance(document, Mapping):
        if isinstance(document.get("error"), str):
            return _oauth_error(status, document, tid, retry_after)
        fault = _get(document, "Fault")
        if isinstance(fault, Mapping):
            return error_from_fault(fault, upstream_status=status, intuit_tid=tid, retry_after=retry_after)
        # Some gateway answers put the error list at the top level.
        entries = _entries_from_json(_get(document, "Error"))
    elif stripped.startswith(b"<"):
        fault_type, entries = _parse_xml(stripped)

    if status < 400 and not entries:
        return None
    codes = [entry.code for entry in entries if entry.code]
    error_class = _error_class(status, fault_type, codes)
    return error_class(
        _message(status, entries, "no details"),
        upstream_status=status,
        intuit_tid=tid,
        fault_type=fault_type,
        entries=entries,
        retry_after=retry_after,
    )
