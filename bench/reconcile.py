"""Compares the final QBO and CRM state with the state the CRM events imply (bench.chaos_plan.expected_state):
0 duplicates, 0 missing, totals and balances equal to the cent.

QBO objects are found by the tag qbsync writes into every PrivateNote (`[qbsync crm_invoice_id=...]`,
`[qbsync crm_payment_id=...]`), read straight from the QBO emulator's store (not through the API, so the
faults still switched on do not touch the reading). The CRM side is the CRM emulator's latest
`PUT /invoices/{id}/accounting` body per invoice.

Each expected object is a check: an invoice (QBO object, amounts, and the CRM's status/total/balance), each
of its CRM payments (one QBO Payment of that amount, or none once the invoice is deleted), each sales receipt,
each contact (exactly one QBO customer with that e-mail). `match_percent` is the share of checks that pass.
Anything tagged in QBO that no expected object explains is counted as unexpected.
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

from bench.chaos_plan import Expected

_INVOICE_TAG = re.compile(r"crm_invoice_id=([^\]\s]+)\]")
_PAYMENT_TAG = re.compile(r"crm_payment_id=([^\]\s]+)\]")


def _money(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal("0")


def _tagged(objects: list[dict[str, Any]], pattern: re.Pattern[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obj in objects:
        match = pattern.search(str(obj.get("PrivateNote") or ""))
        if match:
            found[match.group(1)].append(obj)
    return found


class Reconciliation:
    def __init__(self) -> None:
        self.checks = 0
        self.passed = 0
        self.duplicates = 0
        self.missing = 0
        self.wrong = 0
        self.unexpected = 0
        self.problems: list[str] = []

    def check(self, ok: bool, problem: str, kind: str = "wrong") -> None:
        self.checks += 1
        if ok:
            self.passed += 1
            return
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.problems) < 40:
            self.problems.append(problem)

    def result(self, totals: dict[str, Any]) -> dict[str, Any]:
        return {
            "checks": self.checks, "passed": self.passed,
            "match_percent": round(100 * self.passed / self.checks, 3) if self.checks else 100.0,
            "duplicates": self.duplicates, "missing": self.missing, "wrong_amounts_or_status": self.wrong,
            "unexpected": self.unexpected, "totals": totals, "problems": self.problems,
            "clean": self.passed == self.checks and self.unexpected == 0,
        }


def reconcile(qbo: Any, crm: Any, realms: dict[str, str], expected: Expected) -> dict[str, Any]:
    r = Reconciliation()
    totals = {"expected_total": Decimal("0"), "qbo_total": Decimal("0"), "crm_total": Decimal("0"),
              "expected_balance": Decimal("0"), "qbo_balance": Decimal("0"), "crm_balance": Decimal("0")}
    invoices_by_tenant: dict[str, list] = defaultdict(list)
    for invoice in expected.invoices.values():
        invoices_by_tenant[invoice.tenant_id].append(invoice)
    receipts_by_tenant: dict[str, list] = defaultdict(list)
    for receipt in expected.receipts.values():
        receipts_by_tenant[receipt.tenant_id].append(receipt)

    for tenant_id, realm in realms.items():
        qbo_invoices = _tagged(qbo.entities(realm, "Invoice"), _INVOICE_TAG)
        qbo_payments = _tagged(qbo.entities(realm, "Payment"), _PAYMENT_TAG)
        qbo_receipts = _tagged(qbo.entities(realm, "SalesReceipt"), _PAYMENT_TAG)
        accounting = crm.invoice_accounting(tenant_id)
        explained_invoices: set[str] = set()
        explained_payments: set[str] = set()

        for exp in invoices_by_tenant.get(tenant_id, []):
            explained_invoices.add(exp.crm_id)
            found = qbo_invoices.get(exp.crm_id, [])
            crm_body = accounting.get(exp.crm_id) or {}
            if exp.deleted:
                r.check(not found, f"{exp.crm_id}: deleted in the CRM, {len(found)} QBO invoice(s) left")
                r.check(crm_body.get("status") == "deleted",
                        f"{exp.crm_id}: CRM status {crm_body.get('status')!r}, expected 'deleted'",
                        "missing" if not crm_body else "wrong")
                for payment_id in exp.payments:
                    explained_payments.add(payment_id)
                    left = qbo_payments.get(payment_id, [])
                    r.check(not left, f"{exp.crm_id}: payment {payment_id} still in QBO after the invoice was deleted")
                continue
            if len(found) != 1:
                r.check(False, f"{exp.crm_id}: {len(found)} QBO invoices, expected 1",
                        "missing" if not found else "duplicates")
            else:
                invoice = found[0]
                total = Decimal("0") if exp.voided else exp.total
                ok = _money(invoice.get("TotalAmt")) == total and _money(invoice.get("Balance")) == exp.balance
                r.check(ok, f"{exp.crm_id}: QBO TotalAmt {invoice.get('TotalAmt')} Balance {invoice.get('Balance')}, "
                            f"expected {total} / {exp.balance}")
                totals["qbo_total"] += _money(invoice.get("TotalAmt"))
                totals["qbo_balance"] += _money(invoice.get("Balance"))
            totals["expected_total"] += Decimal("0") if exp.voided else exp.total
            totals["expected_balance"] += exp.balance
            if not crm_body:
                r.check(False, f"{exp.crm_id}: the CRM has no accounting state", "missing")
            else:
                status_ok = crm_body.get("status") == exp.status
                amounts_ok = exp.voided or (_money(crm_body.get("total")) == exp.total
                                            and _money(crm_body.get("balance")) == exp.balance
                                            and _money(crm_body.get("amount_paid")) == exp.amount_paid)
                balance_ok = _money(crm_body.get("balance")) == exp.balance
                r.check(status_ok and amounts_ok and balance_ok,
                        f"{exp.crm_id}: CRM {crm_body.get('status')} total {crm_body.get('total')} balance "
                        f"{crm_body.get('balance')} paid {crm_body.get('amount_paid')}, expected {exp.status} "
                        f"{exp.total} / {exp.balance} / {exp.amount_paid}")
                totals["crm_total"] += Decimal("0") if exp.voided else _money(crm_body.get("total"))
                totals["crm_balance"] += _money(crm_body.get("balance"))
            for payment_id, amount in exp.payments.items():
                explained_payments.add(payment_id)
                payments = qbo_payments.get(payment_id, [])
                if len(payments) != 1:
                    r.check(False, f"{exp.crm_id}: {len(payments)} QBO payments for {payment_id}, expected 1",
                            "missing" if not payments else "duplicates")
                else:
                    r.check(_money(payments[0].get("TotalAmt")) == amount,
                            f"{exp.crm_id}: payment {payment_id} TotalAmt {payments[0].get('TotalAmt')}, "
                            f"expected {amount}")

        explained_receipts: set[str] = set()
        for exp in receipts_by_tenant.get(tenant_id, []):
            explained_receipts.add(exp.crm_id)
            found = qbo_receipts.get(exp.crm_id, [])
            if len(found) != 1:
                r.check(False, f"{exp.crm_id}: {len(found)} QBO sales receipts, expected 1",
                        "missing" if not found else "duplicates")
            else:
                r.check(_money(found[0].get("TotalAmt")) == exp.total,
                        f"{exp.crm_id}: receipt TotalAmt {found[0].get('TotalAmt')}, expected {exp.total}")

        customers: dict[str, int] = defaultdict(int)
        for customer in qbo.entities(realm, "Customer"):
            email = str((customer.get("PrimaryEmailAddr") or {}).get("Address", "")).strip().lower()
            if email:
                customers[email] += 1
        for email in expected.contacts.get(tenant_id, set()):
            n = customers.get(email, 0)
            r.check(n == 1, f"{tenant_id}: {n} QBO customers with e-mail {email}, expected 1",
                    "missing" if n == 0 else "duplicates")

        for crm_id, objects in qbo_invoices.items():
            if crm_id not in explained_invoices:
                r.unexpected += len(objects)
                r.problems.append(f"{tenant_id}: QBO invoice for {crm_id} that no applied event explains")
        for crm_id, objects in qbo_payments.items():
            if crm_id not in explained_payments:
                r.unexpected += len(objects)
                r.problems.append(f"{tenant_id}: QBO payment for {crm_id} that no applied event explains")
        for crm_id, objects in qbo_receipts.items():
            if crm_id not in explained_receipts:
                r.unexpected += len(objects)
                r.problems.append(f"{tenant_id}: QBO sales receipt for {crm_id} that no applied event explains")
    return r.result({key: str(value) for key, value in totals.items()})
