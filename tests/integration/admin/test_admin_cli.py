"""qbsync-admin against the local stack: it adopts the management function's environment from the stack
(as it would from AWS) and lists, shows and redrives dead letters."""

from __future__ import annotations

import json

import pytest
from connect_helpers import connect

from crm_emulator.builders import invoice_sent
from crm_emulator.webhooks import CrmWebhookSender
from qbsync_admin.cli import main
from qbsync_local.aws import STACK_NAME
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

TENANT = "loc_admin"


@pytest.fixture(scope="module")
def dead_lettered(full_stack):
    from waiting import wait_until

    connect(full_stack, TENANT)
    bad = invoice_sent(TENANT, currency="EUR")  # no multicurrency: dead-lettered with a reason
    CrmWebhookSender(f"{full_stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET]).send(bad)
    sqs = full_stack.aws_client("sqs")
    dlq = full_stack.queue_url("CrmEventsDeadLetterQueue")
    wait_until(lambda: int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"]) >= 1, message="the dead letter")
    return bad


def run(stack, tmp_path, *args):
    # --output: the local stack's workers log to this process's stdout too
    out = tmp_path / "answer.json"
    code = main(["--endpoint-url", stack.moto.url, "--stack-name", STACK_NAME, "--region", "us-east-1",
                 "--output", str(out), *args])
    return code, json.loads(out.read_text())


def test_tenants_and_status(full_stack, dead_lettered, tmp_path):
    code, tenants = run(full_stack, tmp_path, "tenants")
    assert code == 0
    assert TENANT in [t["tenant_id"] for t in tenants["tenants"]]
    code, status = run(full_stack, tmp_path, "status", TENANT)
    assert code == 0 and status["tenant_id"] == TENANT
    assert status["failures"]["in_dead_letter_queues"] >= 1


def test_dlq_list_show_and_redrive(full_stack, dead_lettered, tmp_path):
    code, listing = run(full_stack, tmp_path, "dlq", "list", "--tenant", TENANT)
    assert code == 0
    (failure,) = [f for f in listing["failures"] if f.get("event_id") == dead_lettered["id"]]
    assert failure["reason"]["code"] == "currency_not_enabled"
    code, shown = run(full_stack, tmp_path, "dlq", "show", failure["message_id"])
    assert code == 0 and shown["tenant_id"] == TENANT and dead_lettered["id"] in shown["body"]
    code, planned = run(full_stack, tmp_path, "dlq", "redrive", "--id", failure["message_id"], "--dry-run")
    assert code == 0 and [p["message_id"] for p in planned["would_redrive"]] == [failure["message_id"]]
    # the dry run moved nothing
    code, still = run(full_stack, tmp_path, "dlq", "list", "--tenant", TENANT)
    assert failure["message_id"] in [f["message_id"] for f in still["failures"]]
    code, done = run(full_stack, tmp_path, "dlq", "redrive", "--id", failure["message_id"])
    assert code == 0 and done == {"redriven": 1, "failed": []}
    code, after = run(full_stack, tmp_path, "dlq", "list", "--tenant", TENANT)
    assert failure["message_id"] not in [f["message_id"] for f in after["failures"]]


def test_unknown_tenant_status_is_an_error_exit(full_stack, tmp_path):
    code = main(["--endpoint-url", full_stack.moto.url, "--stack-name", STACK_NAME, "--region", "us-east-1",
                 "status", "loc_nobody"])
    assert code == 2
