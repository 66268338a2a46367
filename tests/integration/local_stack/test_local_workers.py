"""The real workers and scheduler on the local stack: permanent errors are dead-lettered at once with
their reason; a schedule tick enqueues one poll job per connected company."""

from __future__ import annotations

import json

from qbsync.queues.dead_letter import REASON_CODE, SOURCE_QUEUE


def test_real_worker_dead_letters_a_permanent_error_at_once_with_its_reason(foundation_stack, wait, queue_depth):
    sqs = foundation_stack.aws_client("sqs")
    queue_url = foundation_stack.queue_url("CrmEventsQueue")
    dlq_url = foundation_stack.queue_url("CrmEventsDeadLetterQueue")
    body = json.dumps({"tenant_id": "loc_1", "event_id": "evt_1"})
    sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageGroupId="loc_1#inv_1",
                     MessageDeduplicationId="evt_1",
                     MessageAttributes={"tenant_id": {"DataType": "String", "StringValue": "loc_1"}})

    dead = wait(lambda: sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                            MessageAttributeNames=["All"]).get("Messages"),
                timeout=20, message="the dead-lettered event")
    assert len(dead) == 1
    message = dead[0]
    assert message["Body"] == body
    assert message["Attributes"]["MessageGroupId"] == "loc_1#inv_1"
    attributes = message["MessageAttributes"]
    assert attributes[REASON_CODE]["StringValue"] == "malformed_message"
    assert attributes[SOURCE_QUEUE]["StringValue"] == "crm_events"
    assert attributes["tenant_id"]["StringValue"] == "loc_1"  # the producer's attributes survive
    # dead-lettered on the first receive, not after five (SQS's own move would carry no reason code); the
    # source message is deleted once the invocation returns, a moment after the dead letter was sent
    wait(lambda: queue_depth(sqs, queue_url) == 0, timeout=5, message="the source message deleted")


def test_schedule_tick_enqueues_one_poll_job_per_connected_company(foundation_stack, wait):
    from datetime import UTC, datetime, timedelta

    from qbsync.models.poll_messages import SyncState
    from qbsync.models.tenant_settings import TenantSettings
    from qbsync.repositories.keys import connection_sk, tenant_pk
    from qbsync.repositories.sync_state import SyncStateRepository
    from qbsync.repositories.tenant_settings import TenantSettingsRepository

    dynamodb = foundation_stack.aws_client("dynamodb")
    table = foundation_stack.deployed.physical_ids["ConnectionsTable"]
    now = datetime.now(UTC)
    for tenant, realm, status in [("loc_1", "111", "connected"), ("loc_1", "222", "connected"),
                                  ("loc_2", "333", "needs_reauth"), ("loc_3", "444", "connected")]:
        dynamodb.put_item(TableName=table, Item={
            "pk": {"S": tenant_pk(tenant)}, "sk": {"S": connection_sk(realm)},
            "tenant_id": {"S": tenant}, "realm_id": {"S": realm}, "status": {"S": status},
            "connected_at": {"S": now.isoformat()}, "updated_at": {"S": now.isoformat()},
        })
    # loc_3 polls hourly and was polled a minute ago (its overdue check done for today): not due this tick
    TenantSettingsRepository(table_name=table).put("loc_3", TenantSettings(frequency="hourly"),
                                                   expected_version=0)
    SyncStateRepository(table_name=table).save(SyncState(
        tenant_id="loc_3", realm_id="444", watermark=now, last_success_at=now - timedelta(minutes=1),
        next_overdue_check_at=now + timedelta(hours=1)))
    scheduler = foundation_stack.functions["PollSchedulerFunction"]
    from qbsync_local.schedules import ScheduleTimer

    timer = ScheduleTimer(name="test", function=scheduler, interval_seconds=3600, region="us-east-1",
                          account_id=foundation_stack.deployed.account_id)
    assert timer.fire() == {"enqueued": 2}
    dlq = foundation_stack.queue_url("PollJobsDeadLetterQueue")
    sqs = foundation_stack.aws_client("sqs")

    # these companies have no tokens (records written by hand): the poll worker dead-letters each job with
    # that reason, which shows what was enqueued
    # Both jobs share the tenant's FIFO group: a message taken in flight would hide the next one, so
    # look without taking (visibility 0) until both are there.
    def dead_jobs():
        found = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                    MessageAttributeNames=["All"]).get("Messages", [])
        collected.update({m["MessageId"]: m for m in found})
        return len(collected) >= 2

    collected: dict = {}
    wait(dead_jobs, timeout=20, message="two poll jobs")
    collected = list(collected.values())
    jobs = sorted((json.loads(m["Body"])["tenant_id"], json.loads(m["Body"])["realm_id"]) for m in collected)
    assert jobs == [("loc_1", "111"), ("loc_1", "222")]
    reasons = {m["MessageAttributes"][REASON_CODE]["StringValue"] for m in collected}
    assert reasons == {"connection_incomplete"}
