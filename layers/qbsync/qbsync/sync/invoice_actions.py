"""Invoice actions the CRM asks for (SPEC F17): e-mail it from QBO, fetch its PDF, link an existing QBO
invoice to a CRM invoice; and unlinking any CRM record from its QBO object (Pipedrive's "unlink")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.errors import QboNotFoundError
from qbsync.clients.qbo.query import select
from qbsync.errors import BadRequestError, ConflictError, NotFoundError
from qbsync.models.identifiers import is_qbo_id
from qbsync.repositories.mappings import MappingExistsError, MappingsRepository

UNLINKABLE = ("customers", "items", "invoices", "sales_receipts")


@dataclass(frozen=True)
class InvoiceTarget:
    tenant_id: str
    realm_id: str
    crm_invoice_id: str


def mapped_invoice_id(mappings: MappingsRepository, target: InvoiceTarget) -> str:
    mapping = mappings.get(target.tenant_id, target.realm_id, "invoices", target.crm_invoice_id)
    if mapping is None or mapping.state.get("deleted"):
        raise NotFoundError("this CRM invoice is not linked to a QuickBooks invoice", code="invoice_not_linked")
    return mapping.qbo_id


def send_invoice(qbo: QboClient, mappings: MappingsRepository, target: InvoiceTarget, *, send_to: str | None,
                 idempotency_key: str | None) -> dict:
    qbo_id = mapped_invoice_id(mappings, target)
    # Sending is an action the user may repeat on purpose; only a retry of the same request (same
    # Idempotency-Key from the CRM) must not e-mail the customer twice.
    key = idempotency_key or uuid.uuid4().hex
    invoice = qbo.send_invoice(qbo_id, request_key=(target.tenant_id, target.realm_id, "send", key), send_to=send_to)
    return {"crm_invoice_id": target.crm_invoice_id, "qbo_invoice_id": qbo_id,
            "email_status": "sent" if invoice.get("EmailStatus") == "EmailSent" else "not_sent",
            "sent_to": (invoice.get("BillEmail") or {}).get("Address")}


def invoice_pdf(qbo: QboClient, mappings: MappingsRepository, target: InvoiceTarget) -> tuple[str, bytes]:
    qbo_id = mapped_invoice_id(mappings, target)
    return qbo_id, qbo.invoice_pdf(qbo_id)


def link_invoice(qbo: QboClient, mappings: MappingsRepository, target: InvoiceTarget, *,
                 qbo_invoice_id: str | None, doc_number: str | None) -> dict:
    if bool(qbo_invoice_id) == bool(doc_number):
        raise BadRequestError("give exactly one of qbo_invoice_id or doc_number", code="invalid_link_request")
    if qbo_invoice_id is not None:
        if not is_qbo_id(qbo_invoice_id):
            raise BadRequestError("qbo_invoice_id must be a QuickBooks id", code="invalid_link_request")
        try:
            invoice = qbo.read("Invoice", qbo_invoice_id)
        except QboNotFoundError:
            raise NotFoundError("no such QuickBooks invoice", code="qbo_invoice_not_found") from None
    else:
        found = qbo.query(select("Invoice", conditions=[("DocNumber", "=", doc_number)], max_results=2))
        if not found:
            raise NotFoundError("no QuickBooks invoice has that number", code="qbo_invoice_not_found")
        if len(found) > 1:
            raise ConflictError("several QuickBooks invoices have that number; link by id",
                                code="doc_number_ambiguous")
        invoice = found[0]
    qbo_id = str(invoice["Id"])
    other = mappings.find_by_qbo_id(target.tenant_id, target.realm_id, "invoices", qbo_id)
    if other is not None and other.crm_id != target.crm_invoice_id:
        raise ConflictError("that QuickBooks invoice is linked to another CRM invoice", code="qbo_invoice_linked",
                            details={"crm_invoice_id": other.crm_id})
    try:
        mappings.create(target.tenant_id, target.realm_id, "invoices", target.crm_invoice_id, qbo_id,
                        state={"origin": "linked", "customer_ref": str((invoice.get("CustomerRef") or {}).get("value", "")),
                               "amount_paid": str(invoice.get("TotalAmt", 0) - invoice.get("Balance", 0))})
    except MappingExistsError as exists:
        if exists.existing.qbo_id != qbo_id:
            raise ConflictError("this CRM invoice is already linked to another QuickBooks invoice",
                                code="crm_invoice_linked", details={"qbo_invoice_id": exists.existing.qbo_id}) from None
    return {"crm_invoice_id": target.crm_invoice_id, "qbo_invoice_id": qbo_id, "doc_number": invoice.get("DocNumber")}


def unlink(mappings: MappingsRepository, *, tenant_id: str, realm_id: str, object_type: str, crm_id: str) -> None:
    if object_type not in UNLINKABLE:
        raise BadRequestError(f"object must be one of {', '.join(UNLINKABLE)}", code="invalid_object")
    if not mappings.delete(tenant_id, realm_id, object_type, crm_id):  # type: ignore[arg-type]
        raise NotFoundError("that CRM record is not linked", code="link_not_found")
