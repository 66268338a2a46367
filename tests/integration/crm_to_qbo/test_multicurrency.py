"""Foreign-currency CRM records through the whole path (F15, QBO.md §4.9): a EUR invoice, its payment and a
EUR sales receipt on a USD company with multicurrency on are booked in EUR at QBO's rate for their dates,
or at the CRM's own `exchange_rate` without asking QBO; a currency the company cannot take dead-letters."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from connect_helpers import connect

from crm_emulator.builders import invoice_partially_paid, invoice_sent, line, payment_succeeded, tax
from crm_emulator.webhooks import CrmWebhookSender
from qbsync.queues.dead_letter import REASON_CODE, REASON_DETAILS
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

RATE_READS = "GET /v3/company/{realm}/exchangerate"


@pytest.fixture(scope="module")
def tenant(full_stack):
    realm = connect(full_stack, "loc_multicurrency", country="US", multicurrency=True, name="Multicurrency Co")
    return "loc_multicurrency", realm


@pytest.fixture(scope="module")
def single_currency_tenant(full_stack):
    realm = connect(full_stack, "loc_single_currency", country="US", multicurrency=False, name="Dollars Only")
    return "loc_single_currency", realm


@pytest.fixture
def send(full_stack):
    sender = CrmWebhookSender(f"{full_stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])

    def deliver(event):
        response = sender.send(event)
        assert response.status_code in (200, 202), response.text
        return response

    return deliver


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def amount(value) -> Decimal:
    return Decimal(str(value))


def qbo_object_for(stack, realm, entity, note):
    for found in stack.qbo_emulator.entities(realm, entity):
        if note in str(found.get("PrivateNote", "")):
            return found
    return None


def payments_on(stack, realm, invoice_id):
    return [p for p in stack.qbo_emulator.entities(realm, "Payment")
            if any(link.get("TxnId") == invoice_id for l in p.get("Line", []) for link in l.get("LinkedTxn", []))]


def crm_status(stack, tenant_id, crm_invoice_id):
    return (stack.crm_emulator.invoice_accounting(tenant_id).get(crm_invoice_id) or {}).get("status")


def rate_reads(stack) -> int:
    return stack.qbo_emulator.counters()["requests"].get(RATE_READS, 0)


def company_day(stack, realm, moment: str) -> date:
    """The day a CRM timestamp falls on in the QBO company's zone (QBO dates are company-local)."""
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(stack.qbo_emulator.company(realm).tz).date()


def dead_letters(stack):
    sqs = stack.aws_client("sqs")
    return sqs.receive_message(QueueUrl=stack.queue_url("CrmEventsDeadLetterQueue"), MaxNumberOfMessages=10,
                               MessageAttributeNames=["All"], VisibilityTimeout=0).get("Messages", [])


def test_eur_invoice_payment_and_receipt_are_booked_at_qbos_rate_for_their_dates(full_stack, tenant, send, wait):
    tenant_id, realm = tenant
    emu = full_stack.qbo_emulator
    # Given QBO's rate table has one EUR rate on the invoice's issue date and another from the day after
    issued = date.today() - timedelta(days=30)
    emu.set_exchange_rate(realm, "EUR", "1.0731", as_of=issued)
    emu.set_exchange_rate(realm, "EUR", "1.0999", as_of=issued + timedelta(days=1))
    reads_before = rate_reads(full_stack)

    # When a EUR invoice issued that day is sent
    sent = invoice_sent(tenant_id, currency="EUR", issue_date=issued,
                        lines=[line("Beratung", 3, "120.50", taxes=[tax("Sales tax", "8.25")]),
                               line("Einrichtung", 1, "99.99")])
    send(sent)
    crm_id = sent["data"]["id"]
    invoice = wait(lambda: qbo_object_for(full_stack, realm, "Invoice", f"crm_invoice_id={crm_id}]"),
                   message="the QBO invoice")

    # Then it is in EUR, for the CRM's EUR total, at the issue date's rate, with home amounts at that rate
    total = Decimal(sent["data"]["totals"]["total"])
    rate = emu.exchange_rate(realm, "EUR", issued)["Rate"]
    assert rate == Decimal("1.0731")
    assert invoice["CurrencyRef"]["value"] == "EUR" and invoice["TxnDate"] == issued.isoformat()
    assert amount(invoice["TotalAmt"]) == total
    assert amount(invoice["ExchangeRate"]) == rate
    assert amount(invoice["HomeTotalAmt"]) == cents(total * rate) == amount(invoice["HomeBalance"])
    # and the customer made for it is a EUR customer (QBO fixes a customer's currency at creation)
    email = sent["data"]["customer"]["email"]
    (qbo_customer,) = [c for c in emu.entities(realm, "Customer")
                       if (c.get("PrimaryEmailAddr") or {}).get("Address") == email]
    assert qbo_customer["CurrencyRef"]["value"] == "EUR" and invoice["CustomerRef"]["value"] == qbo_customer["Id"]
    wait(lambda: crm_status(full_stack, tenant_id, crm_id) == "open", message="the status in the CRM")

    # When the customer pays part of it in EUR
    partial = invoice_partially_paid(tenant_id, invoice=sent["data"], amount="100.00")
    send(partial)
    wait(lambda: crm_status(full_stack, tenant_id, crm_id) == "partially_paid", message="partially paid")

    # Then the balance drops by the EUR amount, and the payment is booked at the rate of its own day
    invoice = qbo_object_for(full_stack, realm, "Invoice", f"crm_invoice_id={crm_id}]")
    assert amount(invoice["Balance"]) == total - Decimal("100.00")
    assert amount(invoice["HomeBalance"]) == cents((total - Decimal("100.00")) * rate)
    (payment,) = payments_on(full_stack, realm, invoice["Id"])
    paid_day = company_day(full_stack, realm, partial["data"]["payment"]["paid_at"])
    assert payment["CurrencyRef"]["value"] == "EUR" and amount(payment["TotalAmt"]) == Decimal("100.00")
    assert amount(payment["ExchangeRate"]) == emu.exchange_rate(realm, "EUR", paid_day)["Rate"] == Decimal("1.0999")

    # When a EUR order-form payment succeeds, its sales receipt is booked at the rate of the paid day too
    receipt_event = payment_succeeded(tenant_id, currency="EUR", lines=[line("Mitgliedschaft", 1, "49.00")])
    send(receipt_event)
    receipt = wait(lambda: qbo_object_for(full_stack, realm, "SalesReceipt",
                                          f"crm_payment_id={receipt_event['data']['id']}]"),
                   message="the sales receipt")
    receipt_day = company_day(full_stack, realm, receipt_event["data"]["paid_at"])
    assert receipt["CurrencyRef"]["value"] == "EUR"
    assert amount(receipt["TotalAmt"]) == Decimal(receipt_event["data"]["totals"]["total"])
    assert amount(receipt["ExchangeRate"]) == emu.exchange_rate(realm, "EUR", receipt_day)["Rate"]
    assert amount(receipt["HomeTotalAmt"]) == cents(amount(receipt["TotalAmt"]) * amount(receipt["ExchangeRate"]))

    # QBO's rate table was read for them: at least once per event (a redelivered event reads again)
    assert rate_reads(full_stack) - reads_before >= 3


def test_a_crm_provided_rate_is_used_and_qbo_is_not_asked(full_stack, tenant, send, wait):
    tenant_id, realm = tenant
    reads_before = rate_reads(full_stack)

    # Given the CRM sends its own EUR rate with the invoice (home units per euro)
    sent = invoice_sent(tenant_id, currency="EUR", exchange_rate="1.2500", lines=[line("Audit", 2, "410.00")])
    send(sent)
    crm_id = sent["data"]["id"]
    invoice = wait(lambda: qbo_object_for(full_stack, realm, "Invoice", f"crm_invoice_id={crm_id}]"),
                   message="the QBO invoice")
    total = Decimal(sent["data"]["totals"]["total"])
    assert invoice["CurrencyRef"]["value"] == "EUR" and amount(invoice["TotalAmt"]) == total
    assert amount(invoice["ExchangeRate"]) == Decimal("1.25")
    assert amount(invoice["HomeTotalAmt"]) == cents(total * Decimal("1.25"))

    # and the payment on that invoice rides on the same rate
    partial = invoice_partially_paid(tenant_id, invoice=sent["data"], amount="20.00")
    send(partial)
    wait(lambda: crm_status(full_stack, tenant_id, crm_id) == "partially_paid", message="partially paid")
    (payment,) = payments_on(full_stack, realm, invoice["Id"])
    assert amount(payment["ExchangeRate"]) == Decimal("1.25")

    # and a sales receipt with its own CRM rate
    receipt_event = payment_succeeded(tenant_id, currency="EUR", exchange_rate="1.3000",
                                      lines=[line("Workshop", 1, "250.00")])
    send(receipt_event)
    receipt = wait(lambda: qbo_object_for(full_stack, realm, "SalesReceipt",
                                          f"crm_payment_id={receipt_event['data']['id']}]"),
                   message="the sales receipt")
    assert amount(receipt["ExchangeRate"]) == Decimal("1.3")

    # Then QBO's exchange-rate endpoint was never called
    assert rate_reads(full_stack) == reads_before


def test_currencies_the_company_cannot_take_dead_letter_with_currency_not_enabled(
        full_stack, tenant, single_currency_tenant, send, wait):
    mc_tenant, mc_realm = tenant
    single_tenant, single_realm = single_currency_tenant
    reads_before = rate_reads(full_stack)
    # Given a EUR invoice for a company without multicurrency, and a JPY one for a company without yen
    euro = invoice_sent(single_tenant, currency="EUR")
    yen = invoice_sent(mc_tenant, currency="JPY", lines=[line("Translation", 1, "12000.00")])
    good = invoice_sent(single_tenant)
    for event in (euro, yen, good):
        send(event)
    wait(lambda: qbo_object_for(full_stack, single_realm, "Invoice", f"crm_invoice_id={good['data']['id']}]"),
         message="the USD invoice after them")

    # Then both go to the dead-letter queue with currency_not_enabled, and neither reaches QBO
    for event, realm in ((euro, single_realm), (yen, mc_realm)):
        dead = wait(lambda: [m for m in dead_letters(full_stack) if event["id"] in m["Body"]],
                    message=f"{event['data']['currency']} in the DLQ")
        attributes = dead[0]["MessageAttributes"]
        assert attributes[REASON_CODE]["StringValue"] == "currency_not_enabled"
        assert event["data"]["currency"] in attributes[REASON_DETAILS]["StringValue"]
        assert qbo_object_for(full_stack, realm, "Invoice", f"crm_invoice_id={event['data']['id']}]") is None
    # the company without multicurrency was never asked for a rate; the yen one once (610)
    assert rate_reads(full_stack) - reads_before == 1
