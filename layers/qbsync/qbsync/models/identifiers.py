"""The shapes of the ids that come from outside, checked before they reach a key, a path or a log line."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

# CRM ids: letters, digits and a few separators, 1-128 characters. Enough for "loc_123", UUIDs and
# "portal:42"; no slashes, dots-only or control characters, so an id can never change a URL path or a key.
CRM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"
# QBO realm ids and entity ids are decimal numbers.
QBO_ID_PATTERN = r"^[0-9]{1,20}$"

CrmId = Annotated[str, StringConstraints(pattern=CRM_ID_PATTERN)]
QboId = Annotated[str, StringConstraints(pattern=QBO_ID_PATTERN)]

_crm_id = re.compile(CRM_ID_PATTERN)
_qbo_id = re.compile(QBO_ID_PATTERN)


def is_crm_id(value: str | None) -> bool:
    return bool(value) and bool(_crm_id.fullmatch(value)) and ".." not in value  # type: ignore[arg-type]


def is_qbo_id(value: str | None) -> bool:
    return bool(value) and bool(_qbo_id.fullmatch(value))  # type: ignore[arg-type]


# One e-mail address as QBO takes it: local@domain.tld, no spaces, lists, quotes or control characters.
_single_email = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                           r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def is_single_email(value: str | None) -> bool:
    return bool(value) and len(value) <= 100 and bool(_single_email.fullmatch(value))  # type: ignore[arg-type]
