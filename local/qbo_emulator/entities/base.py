"""What every entity type shares: field allow-lists, the write context, references, rendering, query props."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..company import Company
from ..errors import (
    business_error,
    inactive_reference,
    invalid_enum,
    invalid_reference,
    malformed_request,
    required_param,
    string_length,
    unknown_property,
)
from ..events import ChangeEvent
from ..store import Record

# Present in every entity body QBO returns; sent back by clients doing a full update, so never an error.
COMMON_READ_ONLY = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status"})


@dataclass
class WriteContext:
    """One write operation in progress: who, when, the changes it made (for webhooks) and its options."""

    company: Company
    now: datetime
    as_user: bool = False
    allow_duplicate_docnum: bool = False
    events: list[ChangeEvent] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)

    def event(
        self,
        entity: str,
        entity_id: str,
        operation: str,
        deleted_id: str | None = None,
        *,
        first: bool = False,
    ) -> None:
        event = ChangeEvent(self.company.realm_id, entity, entity_id, operation, self.now, deleted_id)
        # The operation the caller asked for is reported before the side effects it caused.
        self.events.insert(0, event) if first else self.events.append(event)

    def ref(
        self,
        entity: str,
        value: Any,
        element: str,
        *,
        required: bool = True,
        allow_inactive: bool = False,
    ) -> Record | None:
        """Resolve a ReferenceType: missing -> 2020, unknown -> 2500, inactive name-list record -> 610."""
        if value is None:
            if required:
                raise required_param(element)
            return None
        ref_id = ref_value(value, element)
        record = self.company.store.get(entity, ref_id)
        if record is None or record.deleted:
            raise invalid_reference(entity, ref_id, element)
        if not allow_inactive and record.data.get("Active") is False:
            raise inactive_reference(entity, ref_id, element)
        return record


def ref_value(value: Any, element: str) -> str:
    if not isinstance(value, dict):
        raise malformed_request(f'{element} must be an object like {{"value": "1"}}')
    raw = value.get("value")
    if isinstance(raw, bool) or not isinstance(raw, (str, int)) or str(raw).strip() == "":
        raise required_param(f"{element}.value")
    return str(raw).strip()


def make_ref(record: Record, name_field: str = "Name") -> dict[str, str]:
    name = record.data.get(name_field)
    return {"value": record.id, "name": name} if name else {"value": record.id}


def check_properties(entity: str, body: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            raise unknown_property(key, entity)


def text(data: dict[str, Any], key: str, max_len: int, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise required_param(key)
        data.pop(key, None)
        return None
    if not isinstance(value, str):
        raise malformed_request(f"{key} must be a string")
    if len(value) > max_len:
        raise string_length(key, max_len, len(value))
    return value


def boolean(data: dict[str, Any], key: str, default: bool | None = None) -> bool | None:
    value = data.get(key, default)
    if value is None:
        data.pop(key, None)
        return None
    if not isinstance(value, bool):
        raise malformed_request(f"{key} must be true or false")
    data[key] = value
    return value


def enum(data: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = data.get(key, default)
    if value is None:
        data.pop(key, None)
        return None
    if value not in allowed:
        raise invalid_enum(key, value)
    data[key] = value
    return value


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def date_field(data: dict[str, Any], key: str) -> date | None:
    value = data.get(key)
    if value is None or value == "":
        data.pop(key, None)
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise business_error(f"{key} must be a date like 2015-07-24, got {value!r}", element=key)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise business_error(f"{key} is not a valid date: {value!r}", element=key) from None


@dataclass(frozen=True)
class Prop:
    """A filterable/sortable property for the query language."""

    name: str
    kind: str  # id | string | number | bool | date | datetime | ref
    getter: Callable[[dict[str, Any], Record], Any]


def field_prop(name: str, kind: str, path: str | None = None) -> Prop:
    parts = (path or name).split(".")

    def get(rendered: dict[str, Any], record: Record) -> Any:
        value: Any = rendered
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        if kind == "ref" and isinstance(value, dict):
            return value.get("value")
        return value

    return Prop(name, kind, get)


def common_props() -> list[Prop]:
    return [
        Prop("Id", "id", lambda rendered, record: record.id),
        Prop("MetaData.CreateTime", "datetime", lambda rendered, record: record.created),
        Prop("MetaData.LastUpdatedTime", "datetime", lambda rendered, record: record.updated),
    ]


class EntityType:
    name = ""
    url = ""
    writable: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    # Writable fields a full update keeps when omitted (QBO refuses to change them after create).
    keep_on_full_update: frozenset[str] = frozenset()
    name_list = False  # inactive records hidden from queries; never deleted, only Active=false
    deletable = False
    void_style: str | None = None  # "void" (operation=void) or "include_void" (operation=update&include=void)
    api_writable = True
    cdc_supported = True
    props: tuple[Prop, ...] = ()

    @property
    def allowed(self) -> frozenset[str]:
        return self.writable | self.read_only | COMMON_READ_ONLY

    def query_props(self, company: Company, settings: dict[str, Any]) -> dict[str, Prop]:
        return {prop.name.lower(): prop for prop in (*common_props(), *self.props)}

    def validate(self, ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        raise NotImplementedError

    def commit(self, ctx: WriteContext, record: Record, before: dict[str, Any] | None) -> None:
        """Side effects on other records once this one is stored (payments move invoice balances)."""

    def before_delete(self, ctx: WriteContext, record: Record) -> None:
        """Refuse a delete that QBO would refuse; called before anything changes."""

    def after_delete(self, ctx: WriteContext, record: Record) -> None:
        """Undo this record's effects on others."""

    def void(self, ctx: WriteContext, record: Record) -> dict[str, Any]:
        raise NotImplementedError

    def render(self, company: Company, record: Record) -> dict[str, Any]:
        return base_render(company, record, dict(record.data))


def base_render(company: Company, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    body["Id"] = record.id
    body["SyncToken"] = str(record.sync_token)
    body["domain"] = "QBO"
    body["sparse"] = False
    body["MetaData"] = {
        "CreateTime": company.meta_time(record.created),
        "LastUpdatedTime": company.meta_time(record.updated),
    }
    return body


def deleted_stub(company: Company, record: Record) -> dict[str, Any]:
    return {
        "status": "Deleted",
        "domain": "QBO",
        "Id": record.id,
        "MetaData": {"LastUpdatedTime": company.meta_time(record.updated)},
    }
