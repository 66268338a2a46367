"""Payments move invoice balances; voids and deletes undo them; invoice void/delete/send/PDF semantics."""

from __future__ import annotations

from decimal import Decimal as D


def test_payment_lowers_balance_links_invoice_and_bumps_sync_token(emu, qbo, realm):
    customer = qbo.customer("Payer")
    invoice = qbo.invoice(customer["Id"], "100.00")
    payment = qbo.payment(customer["Id"], "50.00", (invoice["Id"], "40.00"))
    assert payment["UnappliedAmt"] == D("10.00")
    assert payment["Line"] == [
        {"Amount": D("40.00"), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
    ]
    after = qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")
    assert after["Balance"] == D("60.00") and after["TotalAmt"] == D("100.00")
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert after["SyncToken"] == "1"
    # Customer balance: open invoices minus unapplied credit
    assert qbo.ok(qbo.get("customer", customer["Id"]), "Customer")["Balance"] == D("50.00")
    # An update with the invoice's old SyncToken is now stale
    stale = qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert stale.status_code == 400


def test_payment_cannot_overpay_an_invoice_or_exceed_its_total(qbo, fault):
    customer = qbo.customer("Overpayer")
    invoice = qbo.invoice(customer["Id"], "30.00")
    too_much = qbo.post(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 50,
            "Line": [{"Amount": 31, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert fault(too_much)["code"] == "6000"
    over_total = qbo.post(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 10,
            "Line": [{"Amount": 20, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert fault(over_total)["code"] == "6000"
    missing = qbo.post(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 10,
            "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": "999", "TxnType": "Invoice"}]}],
        },
    )
    assert fault(missing)["code"] == "2500"
    assert fault(qbo.post("payment", {"CustomerRef": {"value": customer["Id"]}}))["code"] == "2020"


def test_payment_for_another_customers_invoice_stays_unapplied(qbo):
    alice, bob = qbo.customer("Alice"), qbo.customer("Bob")
    invoice = qbo.invoice(alice["Id"], "20.00")
    payment = qbo.payment(bob["Id"], "20.00", (invoice["Id"], "20.00"))
    assert payment["Line"] == [] and payment["UnappliedAmt"] == D("20.00")
    assert qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")["Balance"] == D("20.00")


def test_payment_update_replaces_all_applications(qbo):
    customer = qbo.customer("Changer")
    first, second = qbo.invoice(customer["Id"], "10.00"), qbo.invoice(customer["Id"], "10.00")
    payment = qbo.payment(customer["Id"], "10.00", (first["Id"], "10.00"))
    moved = qbo.ok(
        qbo.post(
            "payment",
            {
                "Id": payment["Id"],
                "SyncToken": payment["SyncToken"],
                "sparse": True,
                "Line": [{"Amount": 4, "LinkedTxn": [{"TxnId": second["Id"], "TxnType": "Invoice"}]}],
            },
        ),
        "Payment",
    )
    assert moved["UnappliedAmt"] == D("6.00")
    assert qbo.ok(qbo.get("invoice", first["Id"]), "Invoice")["Balance"] == D("10.00")
    assert qbo.ok(qbo.get("invoice", second["Id"]), "Invoice")["Balance"] == D("6.00")


def test_voiding_a_payment_restores_the_invoice_balance(qbo, fault):
    customer = qbo.customer("Voider")
    invoice = qbo.invoice(customer["Id"], "80.00")
    payment = qbo.payment(customer["Id"], "80.00", (invoice["Id"], "80.00"))
    assert qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")["Balance"] == D("0.00")
    wrong_form = qbo.post("payment", {"Id": payment["Id"], "SyncToken": "0"}, operation="void")
    assert fault(wrong_form)["code"] == "500"
    voided = qbo.ok(
        qbo.post(
            "payment",
            {"Id": payment["Id"], "SyncToken": "0", "sparse": True},
            operation="update",
            include="void",
        ),
        "Payment",
    )
    assert voided["TotalAmt"] == D("0.00") and voided["PrivateNote"].startswith("Voided")
    after = qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")
    assert after["Balance"] == D("80.00") and after["LinkedTxn"] == []
    assert after["SyncToken"] == "2"  # applied, then unapplied


def test_deleting_a_payment_restores_the_balance_and_frees_the_invoice(qbo, fault):
    customer = qbo.customer("Deleter")
    invoice = qbo.invoice(customer["Id"], "25.00")
    payment = qbo.payment(customer["Id"], "25.00", (invoice["Id"], "25.00"))
    current = qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")
    refused = qbo.post(
        "invoice", {"Id": invoice["Id"], "SyncToken": current["SyncToken"]}, operation="delete"
    )
    assert refused.status_code == 400 and fault(refused)["code"] == "6000"
    deleted = qbo.ok(
        qbo.post("payment", {"Id": payment["Id"], "SyncToken": "0"}, operation="delete"), "Payment"
    )
    assert deleted == {"status": "Deleted", "domain": "QBO", "Id": payment["Id"]}
    current = qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")
    assert current["Balance"] == D("25.00")
    gone = qbo.ok(
        qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": current["SyncToken"]}, operation="delete"),
        "Invoice",
    )
    assert gone["status"] == "Deleted"
    assert fault(qbo.get("invoice", invoice["Id"]))["code"] == "610"


def test_voiding_an_invoice_zeroes_it_and_unlinks_payments(qbo, fault):
    customer = qbo.customer("Void Invoice")
    invoice = qbo.invoice(customer["Id"], "30.00", "20.00", PrivateNote="internal")
    payment = qbo.payment(customer["Id"], "15.00", (invoice["Id"], "15.00"))
    current = qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")
    assert (
        fault(
            qbo.post(
                "invoice",
                {"Id": invoice["Id"], "SyncToken": current["SyncToken"], "sparse": True},
                operation="update",
                include="void",
            )
        )["code"]
        == "500"
    )
    voided = qbo.ok(
        qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": current["SyncToken"]}, operation="void"),
        "Invoice",
    )
    assert voided["TotalAmt"] == D("0.00") and voided["Balance"] == D("0.00")
    assert {line["Amount"] for line in voided["Line"]} == {D("0.00")}
    assert {
        line["SalesItemLineDetail"]["Qty"] for line in voided["Line"] if "SalesItemLineDetail" in line
    } == {0}
    assert voided["PrivateNote"] == "Voided - internal"
    assert voided["LinkedTxn"] == []
    unlinked = qbo.ok(qbo.get("payment", payment["Id"]), "Payment")
    assert unlinked["UnappliedAmt"] == D("15.00") and unlinked["Line"] == [] and unlinked["SyncToken"] == "1"
    frozen = qbo.post(
        "invoice",
        {"Id": invoice["Id"], "SyncToken": voided["SyncToken"], "sparse": True, "PrivateNote": "edit"},
    )
    assert fault(frozen)["code"] == "6000"


def test_invoice_total_cannot_drop_below_what_is_paid(qbo, fault):
    customer = qbo.customer("Shrinker")
    invoice = qbo.invoice(customer["Id"], "50.00")
    qbo.payment(customer["Id"], "40.00", (invoice["Id"], "40.00"))
    current = qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")
    shrink = qbo.post(
        "invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": current["SyncToken"],
            "sparse": True,
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 30,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert fault(shrink)["code"] == "6000"


def test_sales_receipt_is_paid_and_voids_with_include_void(qbo):
    customer = qbo.customer("Cash buyer")
    receipt = qbo.create(
        "salesreceipt",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 12,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert receipt["Balance"] == D("0.00") and receipt["TotalAmt"] == D("12.00")
    assert receipt["DepositToAccountRef"]["name"] == "Undeposited Funds"
    voided = qbo.ok(
        qbo.post(
            "salesreceipt",
            {"Id": receipt["Id"], "SyncToken": "0", "sparse": True},
            operation="update",
            include="void",
        ),
        "SalesReceipt",
    )
    assert voided["TotalAmt"] == D("0.00") and voided["PrivateNote"] == "Voided"


def test_send_marks_email_sent_and_pdf_is_a_pdf(qbo, fault):
    customer = qbo.customer("Mailbox")
    invoice = qbo.invoice(customer["Id"], "9.99")
    assert fault(qbo.request("POST", f"/invoice/{invoice['Id']}/send"))["code"] == "6000"
    sent = qbo.ok(
        qbo.request(
            "POST",
            f"/invoice/{invoice['Id']}/send",
            params={"sendTo": "ap@example.com"},
            headers={"Content-Type": "application/octet-stream"},
        ),
        "Invoice",
    )
    assert sent["EmailStatus"] == "EmailSent"
    assert sent["BillEmail"]["Address"] == "ap@example.com"
    assert sent["DeliveryInfo"]["DeliveryType"] == "Email" and sent["DeliveryInfo"]["DeliveryTime"]
    assert sent["SyncToken"] == "1"
    pdf = qbo.request("GET", f"/invoice/{invoice['Id']}/pdf", headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    # The cross-reference table points at each object, so readers can open it
    xref_at = int(pdf.content.rsplit(b"startxref", 1)[1].split()[0])
    entries = pdf.content[xref_at:].split(b"\n")[3:8]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry.split()[0])
        assert pdf.content[offset:].startswith(f"{number} 0 obj".encode())
