from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from qbsync.sync.invoice_status import company_today, invoice_accounting, invoice_status

TODAY = date(2026, 11, 23)


def qbo_invoice(**fields):
    return {"Id": "145", "TotalAmt": Decimal("100.00"), "Balance": Decimal("100.00"), "DueDate": "2026-12-01",
            "DocNumber": "1001", "MetaData": {"LastUpdatedTime": "2026-11-23T02:00:00-08:00"}, **fields}


@pytest.mark.parametrize("fields, deleted, expected", [
    ({}, False, "open"),
    ({"Balance": Decimal("40.00")}, False, "partially_paid"),
    ({"Balance": Decimal("0")}, False, "paid"),
    ({"DueDate": "2026-11-22"}, False, "overdue"),
    ({"DueDate": "2026-11-22", "Balance": Decimal("40.00")}, False, "overdue"),
    ({"DueDate": "2026-11-22", "Balance": Decimal("0")}, False, "paid"),
    ({"DueDate": "2026-11-23"}, False, "open"),  # due today is not overdue
    ({"TotalAmt": Decimal("0"), "Balance": Decimal("0"), "PrivateNote": "Voided - inv 7"}, False, "voided"),
    ({}, True, "deleted"),
])
def test_status_precedence(fields, deleted, expected):
    assert invoice_status(qbo_invoice(**fields), today=TODAY, deleted=deleted) == expected


def test_today_is_the_companys_own_date():
    late_evening_in_los_angeles = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
    assert company_today(late_evening_in_los_angeles, "America/Los_Angeles") == date(2026, 11, 23)
    assert company_today(late_evening_in_los_angeles, "Europe/Berlin") == date(2026, 11, 24)
    assert company_today(late_evening_in_los_angeles, "Not/AZone") == date(2026, 11, 24)


def test_accounting_body_for_the_crm():
    body = invoice_accounting(qbo_invoice(Balance=Decimal("60.00"), EmailStatus="EmailSent"), realm_id="9130",
                              home_currency="USD", environment="sandbox", today=TODAY)
    assert body.status == "partially_paid" and body.email_status == "sent"
    assert body.amount_paid == Decimal("40.00") and body.total == Decimal("100.00")
    assert body.currency == "USD" and body.doc_number == "1001"
    assert body.qbo_url == "https://app.sandbox.qbo.intuit.com/app/invoice?txnId=145"


@pytest.mark.parametrize("email_status, expected", [
    ("EmailSent", "sent"), ("EMAIL_SENT", "sent"),  # QBO.md §5: a void's answer spells enums in upper snake
    ("NeedToSend", "not_sent"), ("NEED_TO_SEND", "not_sent"), ("NotSet", "not_sent"), (None, "not_sent"),
])
def test_email_status_is_read_leniently(email_status, expected):
    body = invoice_accounting(qbo_invoice(EmailStatus=email_status), realm_id="9130", home_currency="USD",
                              environment="sandbox", today=TODAY)
    assert body.email_status == expected
