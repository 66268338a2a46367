"""QBO customers, items and invoices → the CRM contract's bodies (pure mappers)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from qbsync.models.poll_messages import DealInvoice, DealRollup
from qbsync.sync.invoice_status import invoice_accounting
from qbsync.sync.poll.contacts import contact_upsert
from qbsync.sync.poll.invoices import deal_accounting, deal_entry, deleted_accounting, qbo_invoice_body
from qbsync.sync.poll.products import product_upsert

META = {"CreateTime": "2026-11-20T09:00:00-08:00", "LastUpdatedTime": "2026-11-22T10:00:00-08:00"}


def test_a_full_customer_becomes_a_contact():
    contact = contact_upsert({
        "Id": "7", "SyncToken": "3", "DisplayName": "Ann Lee", "GivenName": "Ann", "FamilyName": "Lee",
        "CompanyName": "Lee & Co", "PrimaryEmailAddr": {"Address": "ann@example.com"},
        "PrimaryPhone": {"FreeFormNumber": "555-0101"}, "Mobile": {"FreeFormNumber": "555-0102"},
        "BillAddr": {"Line1": "1 Main", "Line2": "Suite 2", "City": "Portland",
                     "CountrySubDivisionCode": "OR", "PostalCode": "97201", "Country": "US"},
        "Active": True, "Balance": Decimal("12.50"), "MetaData": META,
    }, realm_id="123")
    assert contact.model_dump(mode="json") == {
        "qbo_customer_id": "7", "realm_id": "123", "display_name": "Ann Lee", "given_name": "Ann",
        "family_name": "Lee", "company_name": "Lee & Co", "email": "ann@example.com", "phone": "555-0101",
        "mobile": "555-0102",
        "billing_address": {"line1": "1 Main", "line2": "Suite 2", "city": "Portland", "region": "OR",
                            "postal_code": "97201", "country": "US"},
        "active": True, "balance": "12.50", "qbo_updated_at": "2026-11-22T10:00:00-08:00",
    }


def test_a_sparse_customer_still_makes_a_valid_contact():
    contact = contact_upsert({"Id": "8", "FullyQualifiedName": "Parent:Child", "Active": False,
                              "BillAddr": {"City": "Paris"}, "MetaData": META}, realm_id="123")
    assert contact.display_name == "Parent:Child"
    assert contact.active is False and contact.email is None and contact.balance is None
    assert contact.billing_address.model_dump() == {"line1": "", "line2": None, "city": "Paris", "region": "",
                                                    "postal_code": "", "country": ""}
    assert contact_upsert({"Id": "9", "MetaData": META}, realm_id="1").display_name == "QuickBooks customer 9"


def test_an_item_becomes_a_product_with_qbo_type_and_price():
    product = product_upsert({"Id": "4", "Name": "Consulting", "Sku": "CONS-1", "Description": "Hourly",
                              "Type": "Service", "UnitPrice": Decimal("120"), "Taxable": True, "Active": True,
                              "MetaData": META}, realm_id="123")
    assert product.model_dump(mode="json") == {
        "qbo_item_id": "4", "realm_id": "123", "name": "Consulting", "sku": "CONS-1", "description": "Hourly",
        "type": "Service", "unit_price": "120", "taxable": True, "active": True,
        "qbo_updated_at": "2026-11-22T10:00:00-08:00"}
    bare = product_upsert({"Id": "5", "Name": "Thing", "MetaData": META}, realm_id="1")
    assert (bare.type, bare.unit_price, bare.taxable) == ("Service", None, None)


INVOICE = {
    "Id": "31", "SyncToken": "2", "DocNumber": "1007", "TxnDate": "2026-11-01", "DueDate": "2026-12-01",
    "CustomerRef": {"value": "7", "name": "Ann Lee"}, "CurrencyRef": {"value": "USD"},
    "TotalAmt": Decimal("90.00"), "Balance": Decimal("40.00"), "EmailStatus": "EmailSent",
    "Line": [
        {"Amount": Decimal("100.00"), "DetailType": "SalesItemLineDetail", "Description": "Work",
         "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": Decimal("2"), "UnitPrice": Decimal("50")}},
        {"Amount": Decimal("100.00"), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
        {"Amount": Decimal("10.00"), "DetailType": "DiscountLineDetail", "DiscountLineDetail": {}},
    ],
    "MetaData": META,
}


def test_an_invoice_made_in_qbo_goes_one_way_with_its_lines_and_status():
    body = qbo_invoice_body(INVOICE, realm_id="123", crm_contact_id="crm_c_7", home_currency="USD",
                            environment="sandbox", today=date(2026, 11, 23))
    dumped = body.model_dump(mode="json")
    assert {key: dumped[key] for key in ("doc_number", "qbo_customer_id", "crm_contact_id", "status",
                                         "email_status", "total", "balance", "amount_paid", "currency",
                                         "txn_date", "due_date")} == {
        "doc_number": "1007", "qbo_customer_id": "7", "crm_contact_id": "crm_c_7", "status": "partially_paid",
        "email_status": "sent", "total": "90.00", "balance": "40.00", "amount_paid": "50.00",
        "currency": "USD", "txn_date": "2026-11-01", "due_date": "2026-12-01"}
    assert dumped["lines"] == [
        {"description": "Work", "quantity": "2", "unit_price": "50", "amount": "100.00"},
        {"description": "Discount", "quantity": None, "unit_price": None, "amount": "-10.00"},
    ]
    assert dumped["qbo_url"].endswith("txnId=31")


def test_status_is_overdue_when_reported_after_the_due_date():
    body = qbo_invoice_body(INVOICE, realm_id="1", crm_contact_id=None, home_currency="USD",
                            environment="sandbox", today=date(2026, 12, 2))
    assert body.status == "overdue"


def test_a_deleted_invoice_is_reported_as_last_seen_with_status_deleted():
    last = invoice_accounting(INVOICE, realm_id="123", home_currency="USD", environment="sandbox",
                              today=date(2026, 11, 23))
    deleted = deleted_accounting(last.model_dump(mode="json"), invoice_id="31", realm_id="123",
                                 home_currency="USD", environment="sandbox",
                                 deleted_at="2026-11-24T08:00:00-08:00")
    assert (deleted.status, deleted.doc_number, deleted.total) == ("deleted", "1007", Decimal("90.00"))
    unknown = deleted_accounting(None, invoice_id="32", realm_id="123", home_currency="EUR",
                                 environment="production", deleted_at="2026-11-24T08:00:00-08:00")
    assert (unknown.status, unknown.currency, unknown.total) == ("deleted", "EUR", Decimal("0"))


def _entry(crm_id: str, total: str, status: str, updated: int, currency: str = "USD") -> DealInvoice:
    return DealInvoice(crm_invoice_id=crm_id, qbo_invoice_id=crm_id[-1], doc_number=f"D{crm_id[-1]}",
                       recipient="Ann Lee", status=status, due_date=date(2026, 12, 1), total=total,
                       currency=currency, updated_at=datetime(2026, 11, updated, tzinfo=UTC))


def test_the_deal_rollup_adds_live_invoices_and_names_the_latest():
    rollup = DealRollup(tenant_id="t", realm_id="1", deal_id="d", invoices={
        "inv_1": _entry("inv_1", "100.00", "paid", 20),
        "inv_2": _entry("inv_2", "50.00", "open", 22),
        "inv_3": _entry("inv_3", "70.00", "voided", 21),
        "inv_4": _entry("inv_4", "999.00", "open", 19, currency="EUR"),
    })
    body = deal_accounting(rollup, realm_id="1")
    assert body.total_invoiced == Decimal("150.00")
    assert (body.currency, body.latest_invoice.crm_invoice_id, body.latest_invoice.status) == ("USD", "inv_2",
                                                                                              "open")
    assert deal_accounting(DealRollup(tenant_id="t", realm_id="1", deal_id="d"), realm_id="1") is None


def test_a_deal_entry_keeps_the_recipient_of_a_deleted_invoice():
    accounting = invoice_accounting(INVOICE, realm_id="1", home_currency="USD", environment="sandbox",
                                    today=date(2026, 11, 23))
    first = deal_entry(accounting, crm_invoice_id="inv_1", invoice=INVOICE, previous=None)
    assert first.recipient == "Ann Lee"
    stub = {"Id": "31", "status": "Deleted", "MetaData": META}
    again = deal_entry(accounting, crm_invoice_id="inv_1", invoice=stub, previous=first)
    assert again.recipient == "Ann Lee"
