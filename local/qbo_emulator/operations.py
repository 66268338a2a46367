"""Create, read, update (full/sparse), delete, void and send: the one path every write takes, whether it
comes over HTTP, inside a batch, or from the control API acting as a QBO user.

Each operation runs under the company lock, validates completely before changing anything, then commits
the record and its side effects, and finally hands the resulting change events to the webhook dispatcher.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from .clock import Clock
from .company import Company
from .entities import EntityType
from .entities.base import WriteContext, check_properties
from .errors import (
    business_error,
    malformed_request,
    object_not_found,
    required_param,
    stale_object,
    unsupported_operation,
)
from .events import ChangeEvent
from .store import Record

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Engine:
    def __init__(self, clock: Clock, publish: Callable[[list[ChangeEvent]], None]) -> None:
        self.clock = clock
        self.publish = publish

    # ---- reads -------------------------------------------------------------------------------------
    def read(self, company: Company, etype: EntityType, record_id: str) -> dict[str, Any]:
        with company.lock:
            record = company.store.get(etype.name, record_id)
            if record is None or record.deleted:
                raise object_not_found()
            return etype.render(company, record)

    # ---- writes ------------------------------------------------------------------------------------
    def create(
        self,
        company: Company,
        etype: EntityType,
        body: Any,
        *,
        as_user: bool = False,
        allow_duplicate_docnum: bool = False,
    ) -> dict[str, Any]:
        body = self._body(etype, body)
        with company.lock:
            ctx = WriteContext(
                company, self.clock.now(), as_user=as_user, allow_duplicate_docnum=allow_duplicate_docnum
            )
            data = {k: v for k, v in body.items() if k in etype.writable}  # read-only fields are ignored
            data = etype.validate(ctx, data, None)
            record = company.store.add(
                Record(
                    entity=etype.name,
                    id=company.store.next_id(etype.name),
                    data=data,
                    created=ctx.now,
                    updated=ctx.now,
                )
            )
            ctx.event(etype.name, record.id, "Create")
            etype.commit(ctx, record, None)
            rendered = etype.render(company, record)
        self.publish(ctx.events)
        return rendered

    def update(
        self,
        company: Company,
        etype: EntityType,
        body: Any,
        *,
        sparse: bool,
        as_user: bool = False,
        allow_duplicate_docnum: bool = False,
    ) -> dict[str, Any]:
        body = self._body(etype, body)
        with company.lock:
            ctx = WriteContext(
                company, self.clock.now(), as_user=as_user, allow_duplicate_docnum=allow_duplicate_docnum
            )
            record = self._current(company, etype, body, check_sync=not as_user)
            incoming = {k: v for k, v in body.items() if k in etype.writable}
            if sparse:
                merged = {k: copy.deepcopy(v) for k, v in record.data.items() if k in etype.writable}
                merged.update(incoming)
            else:
                # Full update: writable fields left out become NULL (QBO.md §5), except the few QBO never
                # lets change after create.
                merged = incoming
                for key in etype.keep_on_full_update:
                    if key not in merged and key in record.data:
                        merged[key] = copy.deepcopy(record.data[key])
            was_active = record.data.get("Active") is not False
            data = etype.validate(ctx, merged, record)
            before = record.data
            record.data = data
            company.store.touch(record, ctx.now)
            # Making a name-list record inactive is how QBO "deletes" it, and webhooks report a Delete.
            deactivated = etype.name_list and was_active and data.get("Active") is False
            ctx.event(etype.name, record.id, "Delete" if deactivated else "Update")
            etype.commit(ctx, record, before)
            rendered = etype.render(company, record)
        self.publish(ctx.events)
        return rendered

    def delete(
        self, company: Company, etype: EntityType, body: Any, *, as_user: bool = False
    ) -> dict[str, Any]:
        if not etype.deletable:
            raise unsupported_operation(f"Delete for {etype.name} (make it inactive with Active=false)")
        body = self._body(etype, body, check=False)
        with company.lock:
            ctx = WriteContext(company, self.clock.now(), as_user=as_user)
            record = self._current(company, etype, body, check_sync=not as_user)
            etype.before_delete(ctx, record)
            record.deleted = True
            company.store.touch(record, ctx.now)
            ctx.event(etype.name, record.id, "Delete")
            etype.after_delete(ctx, record)
            stub = {"status": "Deleted", "domain": "QBO", "Id": record.id}
        self.publish(ctx.events)
        return stub

    def void(
        self, company: Company, etype: EntityType, body: Any, *, style: str | None, as_user: bool = False
    ) -> dict[str, Any]:
        """style: "void" (operation=void), "include_void" (operation=update&include=void), None = either."""
        if etype.void_style is None or (style is not None and style != etype.void_style):
            raise unsupported_operation(f"void for {etype.name} with this request form")
        body = self._body(etype, body, check=False)
        with company.lock:
            ctx = WriteContext(company, self.clock.now(), as_user=as_user)
            record = self._current(company, etype, body, check_sync=not as_user)
            if record.voided:
                raise business_error("This transaction is already voided")
            record.data = etype.void(ctx, record)
            record.voided = True
            company.store.touch(record, ctx.now)
            ctx.event(etype.name, record.id, "Void", first=True)
            rendered = etype.render(company, record)
        self.publish(ctx.events)
        return rendered

    def send(
        self,
        company: Company,
        etype: EntityType,
        record_id: str,
        send_to: str | None,
        *,
        as_user: bool = False,
    ) -> dict[str, Any]:
        if etype.name not in ("Invoice", "SalesReceipt"):
            raise unsupported_operation(f"send for {etype.name}")
        with company.lock:
            ctx = WriteContext(company, self.clock.now(), as_user=as_user)
            record = company.store.get(etype.name, record_id)
            if record is None or record.deleted:
                raise object_not_found()
            if record.voided:
                raise business_error("A voided transaction cannot be sent")
            address = send_to or (record.data.get("BillEmail") or {}).get("Address")
            if not address:
                raise business_error("No email address: set BillEmail or pass sendTo", element="BillEmail")
            if not _EMAIL.match(address):
                raise business_error(f"Invalid email address {address!r}", element="sendTo")
            data = copy.deepcopy(record.data)
            data["BillEmail"] = {**(data.get("BillEmail") or {}), "Address": address}
            data["EmailStatus"] = "EmailSent"
            data["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": company.meta_time(ctx.now)}
            record.data = data
            company.emails_sent += 1
            company.store.touch(record, ctx.now)
            ctx.event(etype.name, record.id, "Emailed")
            rendered = etype.render(company, record)
        self.publish(ctx.events)
        return rendered

    def merge_customers(
        self, company: Company, etype: EntityType, from_id: str, into_id: str
    ) -> dict[str, Any]:
        """A QBO user merges customer `from_id` into `into_id`: its transactions move, it disappears."""
        with company.lock:
            ctx = WriteContext(company, self.clock.now(), as_user=True)
            source = company.store.get("Customer", from_id)
            target = company.store.get("Customer", into_id)
            if source is None or source.deleted or target is None or target.deleted or from_id == into_id:
                raise object_not_found()
            if source.data["CurrencyRef"] != target.data["CurrencyRef"]:
                raise business_error("Customers with different currencies cannot be merged")
            for entity in ("Invoice", "SalesReceipt", "Payment"):
                for txn in company.store.live(entity):
                    if txn.data["CustomerRef"]["value"] == from_id:
                        txn.data = {
                            **txn.data,
                            "CustomerRef": {"value": into_id, "name": target.data["DisplayName"]},
                        }
                        company.store.touch(txn, ctx.now)
                        ctx.event(entity, txn.id, "Update")
            source.deleted = True
            company.store.touch(source, ctx.now)
            company.store.touch(target, ctx.now)
            ctx.event("Customer", into_id, "Merge", deleted_id=from_id, first=True)
            rendered = etype.render(company, target)
        self.publish(ctx.events)
        return rendered

    # ---- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _body(etype: EntityType, body: Any, *, check: bool = True) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise malformed_request(f"the request body must be a {etype.name} object")
        if check:
            check_properties(etype.name, body, etype.allowed)
        return copy.deepcopy(body)

    @staticmethod
    def _current(company: Company, etype: EntityType, body: dict[str, Any], *, check_sync: bool) -> Record:
        raw_id = body.get("Id")
        if raw_id in (None, ""):
            raise required_param("Id")
        record = company.store.get(etype.name, str(raw_id))
        if record is None or record.deleted:
            raise object_not_found()
        if check_sync:
            token = body.get("SyncToken")
            if token in (None, ""):
                raise required_param("SyncToken")
            if str(token) != str(record.sync_token):
                raise stale_object()
        return record
