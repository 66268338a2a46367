"""Scans that run with every `make test` (issue 9 §3): bandit over our code, pip-audit over the locked
dependencies, and no secret in any log line of a representative scenario. (checkov over the template runs
in tests/infra.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BANDIT = Path(sys.executable).parent / "bandit"
PIP_AUDIT = ROOT / ".tools" / "audit" / "bin" / "pip-audit"
SCANNED = ["layers/qbsync/qbsync", "functions"]

# Single bandit findings accepted after reading the code, each with its reason. A finding is named by its
# test id, its file and a piece of the flagged line, so a new finding of the same kind elsewhere still fails.
ACCEPTED_FINDINGS: dict[tuple[str, str, str], str] = {
    (
        "B105",
        "layers/qbsync/qbsync/clients/qbo/oauth.py",
        "https://oauth.platform.intuit.com",
    ): "Intuit's public token endpoint URL, not a password (the variable name contains 'token').",
    (
        "B105",
        "layers/qbsync/qbsync/clients/qbo/tokens.py",
        '"Bearer"',
    ): "the OAuth token_type literal 'Bearer', not a password.",
    (
        "B105",
        "layers/qbsync/qbsync/signatures/standard_webhooks.py",
        '"whsec_"',
    ): "the Standard Webhooks secret *prefix*; secrets come from Secrets Manager at run time.",
    (
        "B311",
        "layers/qbsync/qbsync/repositories/rate_limiter.py",
        "random.Random()",
    ): "jitter for retry waits; nothing security-relevant is drawn from it.",
    (
        "B311",
        "layers/qbsync/qbsync/sync/crm_events/holds.py",
        "random.uniform(0, RELEASE_JITTER)",
    ): "jitter between rescans of the DLQ; nothing security-relevant is drawn from it.",
    (
        "B311",
        "layers/qbsync/qbsync/repositories/scan_lease.py",
        "random.uniform(0, pause)",
    ): "jitter between tries for a DLQ scan lease; nothing security-relevant is drawn from it.",
    (
        "B608",
        "layers/qbsync/qbsync/clients/qbo/query.py",
        "SELECT * FROM",
    ): "QBO's query language, not SQL: the entity and property names are checked against [A-Za-z.]+ patterns "
    "and every value goes through `literal()`, which escapes quotes and backslashes (QBO.md §2.4, §8.5).",
    (
        "B608",
        "layers/qbsync/qbsync/clients/qbo/query.py",
        "SELECT COUNT(*) FROM",
    ): "as for SELECT * above: checked names, escaped literals.",
    (
        "B405",
        "layers/qbsync/qbsync/clients/qbo/errors.py",
        "import xml.etree.ElementTree",
    ): "parses only QBO's own XML fault bodies (throttling), fetched from Intuit over TLS; see B314.",
    (
        "B314",
        "layers/qbsync/qbsync/clients/qbo/errors.py",
        "ElementTree.fromstring(body)",
    ): "the body is refused before parsing when it holds a DOCTYPE or ENTITY declaration (what defusedxml "
    "would refuse); ElementTree never fetches external entities, and CPython 3.11's expat >= 2.4 limits "
    "entity amplification. The input is QBO's error body, not a caller's.",
}


def _line(path: str, number: int) -> str:
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else ""


def test_bandit_reports_nothing_without_a_written_reason():
    result = subprocess.run(
        [str(BANDIT), "-c", str(ROOT / "bandit.yaml"), "-r", *SCANNED, "-f", "json", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    assert not report.get("errors"), f"bandit could not scan: {report['errors']}"
    unexplained = []
    seen_accepted = set()
    for finding in report["results"]:
        path = finding["filename"]
        source = _line(path, finding["line_number"])
        accepted = next(
            (
                key
                for key in ACCEPTED_FINDINGS
                if key[0] == finding["test_id"] and key[1] == path and key[2] in source
            ),
            None,
        )
        if accepted is None:
            unexplained.append(
                f"{finding['test_id']} {finding['issue_severity']} {path}:{finding['line_number']}: "
                f"{finding['issue_text']}\n      {source.strip()}"
            )
        else:
            seen_accepted.add(accepted)
    assert not unexplained, (
        "bandit findings without a written reason (fix them, or accept each with its reason in "
        "ACCEPTED_FINDINGS / bandit.yaml):\n  " + "\n  ".join(unexplained)
    )
    stale = set(ACCEPTED_FINDINGS) - seen_accepted
    assert not stale, f"accepted findings bandit no longer reports (drop them): {sorted(stale)}"


# --- pip-audit ----------------------------------------------------------------------------------------------


def _audit(requirements: Path, service: str) -> dict[str, Any] | None:
    result = subprocess.run(
        [
            str(PIP_AUDIT),
            "-r",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--vulnerability-service",
            service,
            "-f",
            "json",
            "--timeout",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None  # no report at all: the service could not be reached


def _reachable_report(requirements: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The first service's report that audited at least one dependency, and why the others did not count."""
    reasons = []
    for service in ("pypi", "osv"):
        report = _audit(requirements, service)
        if report is None:
            reasons.append(f"{service}: no answer")
            continue
        audited = [dep for dep in report["dependencies"] if "skip_reason" not in dep]
        if audited:
            return report, reasons
        skipped = report["dependencies"][:1]
        reasons.append(
            f"{service}: nothing could be audited ({skipped[0].get('skip_reason') if skipped else 'empty'})"
        )
    return None, reasons


@pytest.mark.tools
@pytest.mark.parametrize("requirements", ["requirements/dev.lock", "layers/dependencies/requirements.txt"])
def test_locked_dependencies_have_no_known_vulnerability(requirements):
    if not PIP_AUDIT.exists():
        pytest.fail(f"{PIP_AUDIT} is missing: run `make tools`")
    report, reasons = _reachable_report(ROOT / requirements)
    if report is None:
        pytest.skip(
            f"the vulnerability services are not reachable from here, {requirements} was not audited: "
            + "; ".join(reasons)
        )
    unaudited = [
        f"{dep['name']} {dep.get('version', '')}: {dep['skip_reason']}"
        for dep in report["dependencies"]
        if "skip_reason" in dep
    ]
    vulnerable = [
        f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {', '.join(vuln['fix_versions']) or '-'})"
        for dep in report["dependencies"]
        for vuln in dep.get("vulns", [])
    ]
    assert not vulnerable, f"known vulnerabilities in {requirements}:\n  " + "\n  ".join(vulnerable)
    assert not unaudited, f"dependencies of {requirements} the service could not audit:\n  " + "\n  ".join(
        unaudited
    )


# --- no secret in any log line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanned_scenario(full_config) -> Iterator[dict[str, Any]]:
    """A representative run, with every log record and every issued token recorded: connect, invoices and
    payments, a sales receipt, a refused event, a token refresh, invoice e-mail and PDF, QBO webhooks, hostile
    requests, disconnect."""
    from connect_helpers import API_HEADERS, connect
    from log_capture_plugin import IssuedSecrets, LogCapture

    from crm_emulator.builders import (
        customer,
        invoice_paid,
        invoice_partially_paid,
        invoice_sent,
        payment_succeeded,
    )
    from crm_emulator.webhooks import CrmWebhookSender
    from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET
    from qbsync_local.stack import LocalStack

    issued = IssuedSecrets().install()
    capture = LogCapture().attach()
    tenant = "loc_log_scan"
    marker = "Private memo 7f3e9c: the whole e-mail body the customer reads"
    try:
        with LocalStack(full_config, start_schedules=False) as stack:
            realm = connect(stack, tenant, name="Log Scan Co")
            send = CrmWebhookSender(f"{stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET]).send
            buyer = customer(email="log.scan.buyer@example.com")
            sent = invoice_sent(tenant, customer=buyer, message=marker)
            from waiting import wait_until

            def status() -> str | None:
                return (stack.crm_emulator.invoice_accounting(tenant).get(sent["data"]["id"]) or {}).get(
                    "status"
                )

            # One event at a time per invoice: the local queue's FIFO groups leak (see the corpus).
            part = invoice_partially_paid(tenant, invoice=sent["data"], amount="100.00")
            for event, reached in (
                (sent, "open"),
                (part, "partially_paid"),
                (invoice_paid(tenant, invoice=part["data"]), "paid"),
            ):
                assert send(event).status_code == 202
                wait_until(lambda: status() == reached, timeout=40, message=f"the invoice, {reached}")
            for event in (
                payment_succeeded(tenant, customer=buyer),
                invoice_sent(tenant, customer=buyer, currency="EUR", message=marker),
            ):  # refused
                assert send(event).status_code == 202
            assert send(invoice_sent(tenant), bad_signature=True).status_code == 401
            stack.qbo_emulator.expire_access_tokens(realm)  # the next QBO call refreshes the tokens
            base = f"{stack.api.url}/tenants/{tenant}/invoices/{sent['data']['id']}"
            assert (
                requests.post(
                    f"{base}/send", headers=API_HEADERS, json={"email": "billing@example.com"}, timeout=20
                ).status_code
                == 200
            )
            assert requests.get(f"{base}/pdf", headers=API_HEADERS, timeout=20).status_code == 200
            assert (
                requests.get(
                    f"{base}/pdf", headers={"Authorization": "Bearer wrong-key-0123456789"}, timeout=20
                ).status_code
                == 401
            )
            stack.qbo_emulator.wait_for_webhooks(timeout=10)
            assert (
                requests.post(
                    f"{stack.api.url}/tenants/{tenant}/disconnect", headers=API_HEADERS, timeout=20
                ).status_code
                == 200
            )
            yield {
                "lines": list(capture.lines),
                "issued": issued.snapshot(),
                "marker": marker,
                "envelope": json.dumps(sent, separators=(",", ":")),
                "stack_url": stack.api.url,
            }
    finally:
        capture.detach()
        issued.uninstall()


def test_the_scenario_was_logged_and_issued_tokens(scanned_scenario):
    """The scan below would pass vacuously if nothing had been captured or issued."""
    lines, issued = scanned_scenario["lines"], scanned_scenario["issued"]
    assert len(lines) > 50 and any('"qbo call"' in line or "qbo call" in line for line in lines)
    assert len(issued) >= 4, "a code, an access token and a refresh token at connect, then a refresh"


def test_no_secret_token_or_code_in_any_log_line(scanned_scenario, capfd):
    from log_capture_plugin import configured_secrets, find_leaks

    printed = capfd.readouterr()
    lines = [*scanned_scenario["lines"], *printed.out.splitlines(), *printed.err.splitlines()]
    report = find_leaks(lines, {**configured_secrets(), **scanned_scenario["issued"]})
    assert not report, report.describe()


def test_no_full_payload_or_email_body_in_any_log_line(scanned_scenario):
    """Logs say what happened to which ids, never the CRM's payload: not the envelope, not the memo the
    customer reads in the e-mail."""
    lines = scanned_scenario["lines"]
    envelope = scanned_scenario["envelope"]
    assert not [line for line in lines if scanned_scenario["marker"] in line], "the invoice memo was logged"
    assert not [line for line in lines if envelope[:200] in line or json.dumps(envelope)[1:200] in line], (
        "a whole CRM envelope was logged"
    )
