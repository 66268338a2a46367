"""Finding or creating the QBO customer for a CRM contact (issue 5 §2), and keeping it current (F14).

mapping → QBO query by e-mail → create. A DisplayName clash (6240) with a customer of the same e-mail
links that customer; with a different e-mail, the new customer gets a deterministic, readable suffix.
QBO.md §2.4 leaves it unconfirmed that Customer can be filtered by `PrimaryEmailAddr`: a company that answers
the query with a query fault (4000/4001) is remembered for this container and matched by name instead (the
DisplayName clash path compares the e-mail), rather than every new contact's event being dead-lettered.
Each path ends with a conditional mapping write, so two workers racing for one contact use one customer.

F14 "optionally update the QBO customer when those differ" (tenant setting `update_qbo_customer`): when
an event resolves to an existing QBO customer, the fields qbsync fills from the CRM (`crm_customer_fields`)
are compared with QBO's and the ones that differ are sparse-updated. To keep an invoice for a known,
unchanged customer at one QBO call, the customer mapping remembers a hash of the fields last synced
(`state.crm_fields_hash`): QBO is read (and maybe written) only when that hash differs.
- The hash is stored when qbsync creates the customer (QBO then holds exactly those fields) and after a
  comparison; a customer linked by e-mail while the setting is off gets none, so turning the setting on
  later compares it with QBO once.
- A customer whose DisplayName carries qbsync's clash suffix counts as having the wanted name. A rename
  that clashes (6240) is retried with that suffix, then left out (the other fields still go).
- A stale SyncToken (5010) is re-read and retried once; a retryable failure fails the event (the update's
  requestid comes from the event, so a retry replays it); a field QBO refuses (a validation fault) is
  logged and skipped: the optional update must not hold back the invoice or receipt.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from qbsync.clients.qbo.errors import QboDuplicateNameError, QboQueryError, QboStaleObjectError, QboValidationError
from qbsync.clients.qbo.query import select
from qbsync.models.crm_events import Customer
from qbsync.models.mapping_records import Mapping
from qbsync.observability import logger
from qbsync.repositories.mappings import MappingExistsError
from qbsync.sync.crm_events.context import ApplyContext
from qbsync.sync.invoice_mapping import display_name_with_suffix, map_customer
from qbsync.sync.poll.mapping_state import merge_state

FIELDS_HASH = "crm_fields_hash"
"""Key in a customer mapping's state: `fields_hash` of the CRM fields qbsync last synced to QBO."""
UPDATED_FIELDS = ("DisplayName", "GivenName", "FamilyName", "CompanyName", "PrimaryEmailAddr", "PrimaryPhone",
                  "BillAddr", "PrimaryTaxIdentifier")
"""What an update may change: the CRM-filled fields, never Notes (our tag) or CurrencyRef (fixed by QBO)."""
_ADDRESS_KEYS = ("Line1", "Line2", "City", "CountrySubDivisionCode", "PostalCode", "Country")


def _email(customer: dict) -> str:
    return str((customer.get("PrimaryEmailAddr") or {}).get("Address", "")).strip().lower()


def crm_customer_fields(ctx: ApplyContext, customer: Customer) -> dict[str, Any]:
    """The QBO customer fields the tenant's `invoice_fields` fill from the CRM contact, as on create."""
    body = map_customer(customer, settings=ctx.settings, company=ctx.company)
    fields = {key: body[key] for key in UPDATED_FIELDS if key in body}
    if ctx.settings.invoice_fields.email != "customer.email":
        # On create the e-mail is always set (qbsync matches by it); an update follows the tenant's choice.
        fields.pop("PrimaryEmailAddr", None)
    return fields


def fields_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _is_wanted_name(held: str, wanted: str, email: str) -> bool:
    """The name itself, or it with qbsync's clash suffix (made from this or an earlier e-mail: renaming a
    customer only because its contact's e-mail changed would churn names in the books)."""
    if held in (wanted, display_name_with_suffix(wanted, email)):
        return True
    return held.startswith(f"{wanted} (") and held.endswith(")")


def customer_changes(wanted: dict[str, Any], current: dict[str, Any], email: str) -> dict[str, Any]:
    """The wanted fields QBO does not hold yet (pure)."""
    changes: dict[str, Any] = {}
    for key, value in wanted.items():
        held = current.get(key)
        if key == "DisplayName":
            same = _is_wanted_name(str(held or ""), value, email)
        elif key == "BillAddr":
            # QBO adds its own Id (and may add Lat/Long): compare the address lines only.
            same = all((held or {}).get(part, "") == value.get(part, "") for part in _ADDRESS_KEYS)
        else:
            same = held == value
        if not same:
            changes[key] = value
    return changes


def _update(ctx: ApplyContext, crm_contact_id: str, current: dict[str, Any], changes: dict[str, Any],
            email: str, attempt: int) -> None:
    """One sparse update; a DisplayName QBO finds taken is retried with the suffix, then left out."""
    key = ctx.request_key("customer", crm_contact_id, "update", ctx.event_id, str(attempt))
    qbo_id, token = str(current["Id"]), str(current["SyncToken"])
    try:
        ctx.qbo.sparse_update("Customer", qbo_id, token, changes, request_key=key)
        return
    except QboDuplicateNameError:
        if "DisplayName" not in changes:
            raise
    suffixed = {**changes, "DisplayName": display_name_with_suffix(changes["DisplayName"], email)}
    try:
        ctx.qbo.sparse_update("Customer", qbo_id, token, suffixed, request_key=(*key, "suffixed"))
        return
    except QboDuplicateNameError:
        logger.warning("QBO customer keeps its name: the CRM's is taken", extra={"qbo_id": qbo_id})
    rest = {k: v for k, v in changes.items() if k != "DisplayName"}
    if rest:
        ctx.qbo.sparse_update("Customer", qbo_id, token, rest, request_key=(*key, "keep-name"))


def update_customer(ctx: ApplyContext, customer: Customer, qbo_id: str, wanted: dict[str, Any], *,
                    current: dict[str, Any] | None = None) -> None:
    """Bring the QBO customer's CRM-filled fields to `wanted`. `current` is the customer as just read
    (e.g. by the e-mail query), if at hand; it is read by Id otherwise, and again after a stale SyncToken."""
    for attempt in range(2):
        if current is None:
            current = ctx.qbo.read("Customer", qbo_id)
        changes = customer_changes(wanted, current, customer.email)
        if not changes:
            return
        try:
            _update(ctx, customer.crm_contact_id, current, changes, customer.email, attempt)
            logger.info("QBO customer updated from the CRM", extra={"qbo_id": qbo_id, "fields": sorted(changes)})
            return
        except QboStaleObjectError:
            # Someone changed it since it was read (QBO.md §8.3: query results can lag): read by Id, once.
            if attempt == 1:
                raise
            current = None
        except QboValidationError as refused:
            logger.warning("QBO refused the customer update; the event goes on without it",
                           extra={"qbo_id": qbo_id, "error_code": refused.code, "fields": sorted(changes)})
            return


def _keep_current(ctx: ApplyContext, customer: Customer, mapping: Mapping) -> None:
    wanted = crm_customer_fields(ctx, customer)
    digest = fields_hash(wanted)
    if mapping.state.get(FIELDS_HASH) == digest:
        return  # unchanged since qbsync last synced it: no QBO call
    update_customer(ctx, customer, mapping.qbo_id, wanted)
    merge_state(ctx.mappings, mapping, {FIELDS_HASH: digest})


def _link(ctx: ApplyContext, crm_contact_id: str, qbo_id: str, fields_digest: str | None = None) -> str:
    state = {"origin": "crm", **({FIELDS_HASH: fields_digest} if fields_digest else {})}
    try:
        return ctx.mappings.create(ctx.tenant_id, ctx.realm_id, "customers", crm_contact_id, qbo_id,
                                   state=state).qbo_id
    except MappingExistsError as race:
        return race.existing.qbo_id


def _link_existing(ctx: ApplyContext, customer: Customer, existing: dict[str, Any]) -> str:
    """Pair the contact with a QBO customer found by e-mail, updating it first when the tenant wants."""
    qbo_id = str(existing["Id"])
    if not ctx.settings.update_qbo_customer:
        return _link(ctx, customer.crm_contact_id, qbo_id)
    wanted = crm_customer_fields(ctx, customer)
    update_customer(ctx, customer, qbo_id, wanted, current=existing)
    return _link(ctx, customer.crm_contact_id, qbo_id, fields_hash(wanted))


# Realms whose QBO refused the e-mail filter (QBO.md §2.4): asked once per container, not once per contact.
_EMAIL_NOT_FILTERABLE: set[str] = set()


def _customer_with_email(ctx: ApplyContext, email: str) -> dict[str, Any] | None:
    """The QBO customer with this e-mail, or None (also when QBO cannot filter by e-mail)."""
    if ctx.realm_id in _EMAIL_NOT_FILTERABLE:
        return None
    try:
        found = ctx.qbo.query(select("Customer", conditions=[("PrimaryEmailAddr", "=", email)], max_results=1))
    except QboQueryError as refused:
        _EMAIL_NOT_FILTERABLE.add(ctx.realm_id)
        logger.warning("qbo refuses the customer e-mail filter; matching by name",
                       extra={"realm_id": ctx.realm_id, "qbo_code": refused.qbo_code})
        return None
    return found[0] if found else None


def resolve_customer(ctx: ApplyContext, customer: Customer, *, currency: str | None = None) -> str:
    mapping = ctx.mappings.get(ctx.tenant_id, ctx.realm_id, "customers", customer.crm_contact_id)
    if mapping is not None:
        if ctx.settings.update_qbo_customer:
            _keep_current(ctx, customer, mapping)
        return mapping.qbo_id
    email = customer.email.strip().lower()
    found = _customer_with_email(ctx, customer.email)
    if found is not None:
        return _link_existing(ctx, customer, found)

    body = map_customer(customer, settings=ctx.settings, company=ctx.company, currency=currency)
    try:
        created = ctx.qbo.create("Customer", body,
                                 request_key=ctx.request_key("customer", customer.crm_contact_id))
    except QboDuplicateNameError as clash:
        existing = ctx.qbo.read("Customer", clash.existing_id) if clash.existing_id else None
        if existing is not None and _email(existing) == email:
            return _link_existing(ctx, customer, existing)
        body = {**body, "DisplayName": display_name_with_suffix(body["DisplayName"], customer.email)}
        created = ctx.qbo.create("Customer", body,
                                 request_key=ctx.request_key("customer", customer.crm_contact_id, "suffixed"))
    # QBO now holds exactly the CRM's fields: remember them, so a later unchanged event costs no QBO call.
    return _link(ctx, customer.crm_contact_id, str(created["Id"]), fields_hash(crm_customer_fields(ctx, customer)))
