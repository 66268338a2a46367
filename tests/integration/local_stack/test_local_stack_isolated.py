"""Local stack behaviours that need a stack of their own (a replaced function, a deleted table).

Only one local stack runs per process at a time, so these never share the module-scoped one.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from qbsync_local.stack import LocalStack
from qbsync_local.template import SamTemplate

FUNCTIONS = Path(__file__).parent / "functions"


def test_a_handler_exception_is_a_500_with_correlation_id_and_no_secret(foundation_config, tmp_path):
    spec = next(f for f in SamTemplate().functions() if f.logical_id == "QboWebhookFunction")
    crashing = replace(spec, code_dir=FUNCTIONS / "crashing_api")
    with LocalStack(foundation_config, start_queue_runners=False, start_schedules=False,
                    functions_override={"QboWebhookFunction": crashing}) as stack:
        response = requests.post(f"{stack.api.url}/webhooks/qbo", data=b"{}", timeout=10)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert re.fullmatch(r"[0-9a-f-]{36}", error["correlation_id"])
    assert "very-secret" not in response.text and "Traceback" not in response.text


def test_health_degrades_when_a_table_is_gone(foundation_config):
    with LocalStack(foundation_config, start_queue_runners=False, start_schedules=False) as stack:
        table = stack.deployed.physical_ids["MappingsTable"]
        stack.aws_client("dynamodb").delete_table(TableName=table)
        response = requests.get(f"{stack.api.url}/health", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["tables"]["mappings"] is False
    assert body["tables"]["connections"] is True
    assert json.dumps(body).count("false") == 1


@pytest.fixture
def recording_stack(foundation_config, tmp_path, monkeypatch):
    records = tmp_path / "records.jsonl"
    records.touch()
    monkeypatch.setenv("QBSYNC_TEST_RECORDS", str(records))
    spec = next(f for f in SamTemplate().functions() if f.logical_id == "CrmEventWorkerFunction")
    recording = replace(spec, code_dir=FUNCTIONS / "recording_worker")
    with LocalStack(foundation_config, start_schedules=False,
                    functions_override={"CrmEventWorkerFunction": recording}) as stack:
        yield stack, records


def test_poison_message_lands_in_dlq_after_exactly_max_receive_count_attempts(recording_stack, wait, queue_depth):
    stack, records = recording_stack
    sqs = stack.aws_client("sqs")
    queue_url, dlq_url = stack.queue_url("CrmEventsQueue"), stack.queue_url("CrmEventsDeadLetterQueue")
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])[
        "Attributes"]["RedrivePolicy"])
    max_receive_count = int(redrive["maxReceiveCount"])
    assert max_receive_count == 5  # what the template declares

    # Given a good message and a poison one in different message groups
    sqs.send_message(QueueUrl=queue_url, MessageBody="good", MessageGroupId="tenant-a#inv-1",
                     MessageDeduplicationId="good-1")
    sqs.send_message(QueueUrl=queue_url, MessageBody="poison", MessageGroupId="tenant-b#inv-9",
                     MessageDeduplicationId="poison-1")

    # When the queue runner has worked until the poison message is dead-lettered
    dead = wait(lambda: sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10,
                                            AttributeNames=["All"]).get("Messages"),
                timeout=30, message="the poison message in the DLQ")

    # Then the handler saw the poison message exactly maxReceiveCount times, the good one once
    deliveries = [json.loads(line) for line in records.read_text().splitlines()]
    poison = [d for d in deliveries if d["body"] == "poison"]
    good = [d for d in deliveries if d["body"] == "good"]
    assert [d["receive_count"] for d in poison] == list(range(1, max_receive_count + 1))
    assert len(good) == 1
    assert [m["Body"] for m in dead] == ["poison"]
    assert dead[0]["Attributes"]["MessageGroupId"] == "tenant-b#inv-9"
    assert queue_depth(sqs, queue_url) == 0
