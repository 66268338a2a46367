"""Money the CRM received → QBO: the SalesReceipt for `payment.succeeded` (F11) and the Payment linked to an
invoice (F13)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from crm_emulator import builders as b
from qbsync.models.connection_records import CompanyFacts
from qbsync.models.crm_events import Payment, SucceededPayment
from qbsync.models.tenant_settings import TenantSettings
from qbsync.sync.invoice_mapping import InvoiceMappingError, crm_id_in_private_note
from qbsync.sync.receipt_mapping import map_payment, map_sales_receipt, receipt_doc_number


def company(country: str = "US", home: str = "USD", *, ast: bool = True, multicurrency: bool = False,
            custom_numbers: bool = False, time_zone: str | None = "America/Los_Angeles") -> CompanyFacts:
    return CompanyFacts(company_name="Acme", country=country, home_currency=home, multicurrency=multicurrency,
                        custom_txn_numbers=custom_numbers, automated_sales_tax=ast, time_zone=time_zone)


US_AST = company()


def succeeded(*, data: dict[str, Any] | None = None, **builder_overrides: Any) -> SucceededPayment:
    """A membership payment (49.00 + 8.25 % tax unless `lines` say otherwise); `data` then replaces fields."""
    builder_overrides.setdefault("customer", b.customer(crm_contact_id="con_1", email="pat@example.com"))
    built = b.payment_succeeded("loc_1", source="membership", **builder_overrides)["data"]
    built.update({"id": "pay_1", "reference": "ch_123", "paid_at": "2026-11-24T03:30:00Z", **(data or {})})
    return SucceededPayment.model_validate(built)


def receipt(payment: SucceededPayment, *, facts: CompanyFacts = US_AST,
            settings: TenantSettings | None = None, **options: Any):
    return map_sales_receipt(payment, company=facts, settings=settings or TenantSettings(), customer_ref="58",
                             item_refs={line.id: "7" for line in payment.lines}, **options)


def test_a_membership_payment_becomes_a_sales_receipt():
    payment = succeeded()
    result = receipt(payment)
    body = result.body
    assert body["CustomerRef"] == {"value": "58"}
    assert body["TxnDate"] == "2026-11-23"  # 03:30 UTC is still the 23rd in Los Angeles
    assert body["PaymentRefNum"] == "ch_123"
    assert crm_id_in_private_note(body["PrivateNote"], "crm_payment_id") == "pay_1"
    assert "membership" in body["PrivateNote"]
    [line] = body["Line"]
    assert (line["Amount"], line["SalesItemLineDetail"]["TaxCodeRef"]) == (D("49.00"), {"value": "TAX"})
    assert body["TxnTaxDetail"] == {"TotalTax": D("4.04")}  # 49.00 × 8.25 % = 4.0425
    assert result.expected.total == payment.totals.total == D("53.04")
    assert body["BillEmail"] == {"Address": "pat@example.com"}
    assert "DocNumber" not in body


def test_txn_date_uses_utc_when_the_company_zone_is_unknown():
    assert receipt(succeeded(), facts=company(time_zone=None)).body["TxnDate"] == "2026-11-24"
    assert receipt(succeeded(), facts=company(time_zone="Not/AZone")).body["TxnDate"] == "2026-11-24"


def test_a_reference_longer_than_qbo_holds_is_left_out_and_kept_in_the_note():
    reference = "ch_3PQRSTUVWXYZabcdefghij"  # 24 characters
    body = receipt(succeeded(data={"reference": reference})).body
    assert "PaymentRefNum" not in body
    assert reference in body["PrivateNote"]


def test_a_receipt_with_line_discounts_and_non_us_tax_codes():
    lines = [b.line("Class pack", 4, "25.00", id="l1", taxes=[b.tax("GST", "5")],
                    discount=b.percentage_discount("15")),
             b.line("Mat", 1, "30.00", id="l2", taxes=[b.tax("GST", "5"), b.tax("PST", "7")])]
    payment = succeeded(lines=lines, currency="CAD")
    facts = company("CA", "CAD", ast=False)
    settings = TenantSettings(tax_codes={"GST": "4", "GST+PST": "6"})
    result = receipt(payment, facts=facts, settings=settings,
                     tax_rates={"4": [("g", D(5))], "6": [("g", D(5)), ("p", D(7))]})
    first, second = result.body["Line"]
    detail = first["SalesItemLineDetail"]
    assert (detail["Qty"], detail["UnitPrice"], first["Amount"]) == (D(4), D("21.25"), D("85.00"))
    assert second["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "6"}
    assert result.body["GlobalTaxCalculation"] == "TaxExcluded"
    # GST on 115.00 = 5.75; PST on 30.00 = 2.10
    assert (result.expected.tax, result.expected.total) == (D("7.85"), D("122.85")) == (
        payment.totals.tax, payment.totals.total)


def test_custom_numbering_gives_receipts_a_deterministic_doc_number():
    facts = company(custom_numbers=True)
    assert receipt(succeeded(), facts=facts).body["DocNumber"] == "pay_1"
    long_id = succeeded(data={"id": "payment_" + "9" * 30})
    first, again = receipt_doc_number(long_id, facts), receipt_doc_number(long_id, facts)
    assert first == again and len(first) == 21 and first.startswith("P")


def test_a_changed_repeat_updates_the_same_receipt():
    body = receipt(succeeded(), qbo_receipt=("88", "2")).body
    assert (body["Id"], body["SyncToken"], body["sparse"]) == ("88", "2", True)


@pytest.mark.parametrize(("data", "field", "qbo", "crm"), [
    ({"amount": "50.00"}, "amount", "53.04", "50.00"),
    ({"totals": {"subtotal": "49.00", "discount": "0.00", "tax": "4.04", "total": "53.05",
                 "amount_paid": "53.05", "amount_due": "0.00"}}, "total", "53.04", "53.05"),
])
def test_a_receipt_qbo_would_total_differently_is_refused_with_both_numbers(data, field, qbo, crm):
    with pytest.raises(InvoiceMappingError) as caught:
        receipt(succeeded(data=data))
    assert (caught.value.code, caught.value.details["field"]) == ("total_mismatch", field)
    assert (caught.value.details["qbo"], caught.value.details["crm"]) == (qbo, crm)


def test_a_receipt_in_another_currency_needs_multicurrency():
    with pytest.raises(InvoiceMappingError) as caught:
        receipt(succeeded(currency="EUR"))
    assert (caught.value.code, caught.value.details["currency"]) == ("currency_not_enabled", "EUR")


# --- Payment on an invoice ----------------------------------------------------------------------------


def crm_payment(**fields: Any) -> Payment:
    return Payment.model_validate({"id": "pay_9", "amount": "100.00", "currency": "USD",
                                   "paid_at": "2026-11-25T18:00:00Z", "method": "card", "reference": "ch_9",
                                   **fields})


def test_a_payment_is_linked_to_the_invoice_for_its_whole_amount():
    body = map_payment(crm_payment(), invoice_qbo_id="130", customer_ref="58", company=US_AST)
    assert body["TotalAmt"] == D("100.00")
    assert body["Line"] == [{"Amount": D("100.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}]
    assert body["CustomerRef"] == {"value": "58"}
    assert (body["TxnDate"], body["PaymentRefNum"]) == ("2026-11-25", "ch_9")
    assert crm_id_in_private_note(body["PrivateNote"], "crm_payment_id") == "pay_9"
    assert "CurrencyRef" not in body


def test_a_foreign_currency_payment_with_multicurrency():
    body = map_payment(crm_payment(currency="EUR"), invoice_qbo_id="130", customer_ref="58",
                       company=company(multicurrency=True), exchange_rate=D("1.08"))
    assert (body["CurrencyRef"], body["ExchangeRate"]) == ({"value": "EUR"}, D("1.08"))


@pytest.mark.parametrize("amount", ["0.00", "-5.00", "10.005"])
def test_a_payment_amount_qbo_cannot_take_is_refused(amount):
    with pytest.raises(InvoiceMappingError) as caught:
        map_payment(crm_payment(amount=amount), invoice_qbo_id="130", customer_ref="58", company=US_AST)
    assert (caught.value.code, caught.value.details["amount"]) == ("invalid_payment_amount", amount)


def test_a_payment_in_another_currency_without_multicurrency_is_refused():
    with pytest.raises(InvoiceMappingError) as caught:
        map_payment(crm_payment(currency="GBP"), invoice_qbo_id="130", customer_ref="58", company=US_AST)
    assert (caught.value.code, caught.value.details["currency"]) == ("currency_not_enabled", "GBP")
