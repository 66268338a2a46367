"""`make demo`: the product in five minutes, on the local stack, printing each step and what happened.

connect a tenant (the real OAuth dance against the QBO emulator) → a customer created in QuickBooks arrives
in the CRM → an invoice sent from the CRM arrives in QuickBooks → a partial and a full payment → the status
back in the CRM → a planted failure in the dead-letter queue, fixed and redriven → a summary. The stack
keeps running afterwards for exploration.
"""

from __future__ import annotations

import dataclasses
import json
import os
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from qbsync_local.config import DEFAULT_API_KEY, DEFAULT_CRM_INBOUND_SECRET, LocalConfig
from qbsync_local.stack import LocalStack
from qbsync_local.waiting import wait_until

TENANT = "demo_tenant"
API_HEADERS = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def step(number: int, title: str) -> None:
    print(f"\n\033[1m{number}. {title}\033[0m", flush=True)


def say(text: str) -> None:
    print(f"   {text}", flush=True)


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 60) -> Any:
    return wait_until(condition, timeout=timeout, interval=0.2, message=f"{what} (demo)", error=SystemExit)


def connect(stack: LocalStack) -> str:
    from qbsync.signatures.connect_link import sign_connect_link

    realm = stack.qbo_emulator.create_company(country="US", name="Demo Landscaping Co")
    stack.qbo_emulator.set_consent(realm_id=realm)
    expires = int(time.time()) + 300
    return_url = "http://localhost/settings/quickbooks"  # an origin on the local allow-list
    signature = sign_connect_link(DEFAULT_CRM_INBOUND_SECRET, tenant_id=TENANT, return_url=return_url,
                                  expires=expires)
    link = requests.Request("GET", f"{stack.api.url}/connect", params={
        "tenant_id": TENANT, "return_url": return_url, "expires": expires, "signature": signature}).prepare().url
    say(f"the CRM's signed link: {link[:90]}...")
    to_intuit = requests.get(link, allow_redirects=False, timeout=10)
    say(f"qbsync → Intuit consent ({to_intuit.status_code} to {to_intuit.headers['Location'][:60]}...)")
    consent = requests.get(to_intuit.headers["Location"], allow_redirects=False, timeout=10)
    callback = requests.get(consent.headers["Location"], allow_redirects=False, timeout=20)
    say(f"Intuit → qbsync callback → back to the CRM: {callback.headers['Location']}")
    update = stack.crm_emulator.connection_updates(TENANT)[-1]
    say(f"the CRM was told: {json.dumps(update)}")
    return realm


def connect_again(stack: LocalStack, realm: str) -> None:
    from qbsync.signatures.connect_link import sign_connect_link

    stack.qbo_emulator.set_consent(realm_id=realm)
    expires = int(time.time()) + 300
    signature = sign_connect_link(DEFAULT_CRM_INBOUND_SECRET, tenant_id=TENANT, return_url=None, expires=expires)
    link = requests.Request("GET", f"{stack.api.url}/connect", params={
        "tenant_id": TENANT, "expires": expires, "signature": signature}).prepare().url
    consent = requests.get(requests.get(link, allow_redirects=False, timeout=10).headers["Location"],
                           allow_redirects=False, timeout=10)
    answer = requests.get(consent.headers["Location"], allow_redirects=False, timeout=30)
    say(f"reconnected: {answer.status_code} {answer.json().get('message', '')}")


def run_demo(stack: LocalStack) -> dict[str, Any]:
    from crm_emulator.builders import invoice_paid, invoice_partially_paid, invoice_sent, line, tax
    from crm_emulator.webhooks import CrmWebhookSender

    summary: dict[str, Any] = {}
    sender = CrmWebhookSender(f"{stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])

    step(1, "Connect QuickBooks (OAuth against the QBO emulator)")
    realm = connect(stack)
    summary["realm_id"] = realm

    step(2, "A customer created in QuickBooks arrives in the CRM")
    created = stack.qbo_emulator.user_create(realm, "Customer", {
        "DisplayName": "Ada Lovelace", "PrimaryEmailAddr": {"Address": "ada@example.com"}})
    say(f"QuickBooks user created customer {created['Id']} (a webhook goes to qbsync)")
    started = time.monotonic()
    contact = wait_for("the contact in the CRM", lambda: next(
        (c for c in stack.crm_emulator.contacts(TENANT) if c.get("qbo_customer_id") == str(created["Id"])), None))
    summary["qbo_to_crm_seconds"] = round(time.monotonic() - started, 2)
    say(f"the CRM has contact {contact.get('crm_contact_id')} after {summary['qbo_to_crm_seconds']} s")

    step(3, "An invoice sent from the CRM arrives in QuickBooks")
    sent = invoice_sent(TENANT, lines=[line("Garden design", 2, "450.00", taxes=[tax("Sales tax", "8.25")]),
                                      line("Site visit", 1, "120.00")])
    answer = sender.send(sent)
    say(f"POST /webhooks/crm → {answer.status_code} {answer.text}")
    status = wait_for("the invoice status in the CRM",
                      lambda: stack.crm_emulator.invoice_accounting(TENANT).get(sent["data"]["id"]))
    say(f"QuickBooks invoice {status['qbo_invoice_id']}: total {status['total']} "
        f"(CRM total {sent['data']['totals']['total']}), status {status['status']}")

    step(4, "A partial, then a full payment")
    partial = invoice_partially_paid(TENANT, invoice=sent["data"], amount="400.00")
    sender.send(partial)
    wait_for("partially paid", lambda: stack.crm_emulator.invoice_accounting(TENANT)[sent["data"]["id"]]["status"]
             == "partially_paid")
    say(f"after 400.00: {stack.crm_emulator.invoice_accounting(TENANT)[sent['data']['id']]['status']}")
    sender.send(invoice_paid(TENANT, invoice=partial["data"]))
    final = wait_for("paid", lambda: (stack.crm_emulator.invoice_accounting(TENANT)[sent["data"]["id"]]
                                      if stack.crm_emulator.invoice_accounting(TENANT)[sent["data"]["id"]]["status"]
                                      == "paid" else None))
    step(5, "The invoice's QuickBooks state, back in the CRM")
    say(json.dumps(final))
    summary["invoice"] = final

    step(6, "A planted failure: the user revokes qbsync's access inside QuickBooks")
    for grant in stack.qbo_emulator.oauth.grants(realm):
        grant.revoked = True
    stack.qbo_emulator.expire_access_tokens(realm)
    waiting = invoice_sent(TENANT, lines=[line("Hedge trimming", 3, "75.00")])
    sender.send(waiting)
    failures = wait_for("the failure", lambda: [f for f in requests.get(
        f"{stack.api.url}/tenants/{TENANT}/failures", headers=API_HEADERS, timeout=10).json().get("failures", [])
        if f.get("event_id") == waiting["id"]])
    say(f"GET /tenants/{TENANT}/failures → {failures[0]['reason']['code']}: {failures[0]['reason']['message']}")
    say(f"the CRM was told: {json.dumps(stack.crm_emulator.connection_updates(TENANT)[-1])}")
    say("the fix: the customer clicks Connect QuickBooks again; waiting events are redriven by themselves")
    connect_again(stack, realm)
    applied = wait_for("the waiting invoice", lambda: stack.crm_emulator.invoice_accounting(TENANT).get(
        waiting["data"]["id"]))
    say(f"the waiting invoice is now QuickBooks invoice {applied['qbo_invoice_id']} ({applied['status']})")
    summary["planted_failure"] = failures[0]["reason"]["code"]
    summary["after_reconnect"] = applied["status"]
    return summary


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s", stream=sys.stderr)
    # The handlers' JSON logs would drown the story: warnings and errors only, unless asked otherwise.
    config = LocalConfig.from_environ()
    if not os.environ.get("QBSYNC_LOG_LEVEL"):
        config = dataclasses.replace(config, log_level="WARNING")
    stack = LocalStack(config)
    print("starting the local stack (moto, the real handlers, QBO and CRM emulators)...", flush=True)
    stack.start()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        summary = run_demo(stack)
        print("\n\033[1mSummary\033[0m", flush=True)
        print(json.dumps(summary, indent=2, default=str), flush=True)
        print(f"\nThe stack keeps running: API {stack.api.url}, Swagger UI {stack.api.url}/docs, "
              f"QBO emulator {stack.qbo_emulator.url}, CRM emulator {stack.crm_emulator.url}. Ctrl-C stops it.",
              flush=True)
        if "--exit" not in sys.argv:
            stop.wait()
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
