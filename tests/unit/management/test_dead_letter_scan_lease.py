"""Scans of one DLQ take turns (qbsync.repositories.scan_lease): a failures listing that starts while a redrive
holds the queue's messages in flight waits for it and then sees every message, instead of coming back short.
(moto, in-memory.)"""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from moto import mock_aws

from qbsync.queues.redrive import DeadLetterQueue, peek
from qbsync.repositories.scan_lease import DeadLetterScanBusy, DeadLetterScanLease

TABLE = "rate-limit"


def rate_limit_table(dynamodb) -> None:
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])


def dlq_with_messages(sqs, count: int, *, lease=None) -> tuple[DeadLetterQueue, list[str]]:
    url = sqs.create_queue(QueueName="events-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    source = sqs.create_queue(QueueName="events.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    bodies = [f"event-{n}" for n in range(count)]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=body, MessageDeduplicationId=body)
    return DeadLetterQueue(name="crm_events", dlq_url=url, source_url=source, lease=lease), bodies


def lease(dynamodb, **overrides) -> DeadLetterScanLease:
    return DeadLetterScanLease(table_name=TABLE, queue="crm_events", dynamodb=dynamodb, **overrides)


def concurrent_listing(sqs, queue) -> list[str]:
    """A slow scan (it holds every message in flight for a while) and a listing started in its middle:
    what the listing saw."""
    scanning = threading.Event()

    def slow(letter) -> bool:
        scanning.set()
        time.sleep(0.05)
        return False

    first = threading.Thread(target=lambda: peek(sqs, [queue], select=slow))
    first.start()
    assert scanning.wait(10)
    seen = [letter.body for letter in peek(sqs, [queue], select=lambda letter: True)]
    first.join(10)
    return seen


def test_a_listing_during_another_scan_waits_for_it_and_sees_every_message():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        rate_limit_table(dynamodb)
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue, bodies = dlq_with_messages(sqs, 25, lease=lease(dynamodb).hold)
        assert sorted(concurrent_listing(sqs, queue)) == sorted(bodies)


def test_without_the_lease_the_same_listing_comes_back_short():
    """The failure the lease removes (so the test above proves something)."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue, bodies = dlq_with_messages(sqs, 25)
        assert len(concurrent_listing(sqs, queue)) < len(bodies)


def test_a_scan_that_cannot_get_the_lease_in_time_is_refused_with_a_retryable_reason():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        rate_limit_table(dynamodb)
        holder = lease(dynamodb)
        with holder.hold():
            with pytest.raises(DeadLetterScanBusy) as refused:
                with lease(dynamodb, wait_seconds=0.3).hold():
                    pass
        assert refused.value.code == "dead_letter_scan_busy" and refused.value.http_status == 503
        with lease(dynamodb, wait_seconds=0).hold():  # given back: free at once
            pass


def test_a_lease_its_holder_never_gave_back_lapses():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        rate_limit_table(dynamodb)
        now = [1_000_000.0]
        crashed = lease(dynamodb, clock=lambda: now[0], lease_seconds=90).hold()
        crashed.__enter__()  # and never __exit__: the Lambda died mid-scan
        with pytest.raises(DeadLetterScanBusy):
            with lease(dynamodb, clock=lambda: now[0], wait_seconds=0).hold():
                pass
        now[0] += 91
        with lease(dynamodb, clock=lambda: now[0], wait_seconds=0).hold():
            # the old holder coming back late gives back only its own claim, not this one
            crashed.__exit__(None, None, None)
            with pytest.raises(DeadLetterScanBusy):
                with lease(dynamodb, clock=lambda: now[0], wait_seconds=0).hold():
                    pass
