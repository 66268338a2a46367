"""A DLQ scan (failures listing, redrive) must see every message, also when several messages of one FIFO group
wait there (an invoice's events behind its dead-lettered sent): a receive of 10 can stop in the middle of a
group, and a group's later messages stay hidden while its first ones are held by the scan. (moto, in-memory.)"""

from __future__ import annotations

import random

import boto3
from moto import mock_aws

from qbsync.queues.redrive import DeadLetterQueue, peek, redrive


def fifo_dlq_with_interleaved_groups(sqs):
    url = sqs.create_queue(QueueName="events-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    source = sqs.create_queue(QueueName="events.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sizes = [1, 1, 3, 2, 3, 1, 2, 3, 1, 1, 3, 2]  # 23 messages in 12 groups, interleaved below
    left = dict(enumerate(sizes))
    rng = random.Random(1)
    sent = []
    while left:
        group = rng.choice(sorted(left))
        body = f"{group}:{sizes[group] - left[group]}"
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=str(group), MessageDeduplicationId=body)
        sent.append(body)
        left[group] -= 1
        if not left[group]:
            del left[group]
    return DeadLetterQueue(name="crm_events", dlq_url=url, source_url=source), sent


def test_a_scan_sees_the_later_messages_of_groups_cut_by_a_receive():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue, sent = fifo_dlq_with_interleaved_groups(sqs)
        found = [letter.body for letter in peek(sqs, [queue], select=lambda letter: True)]
        assert sorted(found) == sorted(sent)
        for group in {body.split(":")[0] for body in sent}:  # each group in its order
            assert [b for b in found if b.split(":")[0] == group] == [b for b in sent if b.split(":")[0] == group]
        # a peek removes nothing
        assert sorted(letter.body for letter in peek(sqs, [queue], select=lambda letter: True)) == sorted(sent)


def test_a_redrive_of_one_group_sends_all_of_it_back_in_order():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue, sent = fifo_dlq_with_interleaved_groups(sqs)
        report = redrive(sqs, [queue], select=lambda letter: letter.group_id == "4")
        assert [letter.body for letter in report.redriven] == ["4:0", "4:1", "4:2"]
        back = sqs.receive_message(QueueUrl=queue.source_url, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in back] == ["4:0", "4:1", "4:2"]
        assert len(peek(sqs, [queue], select=lambda letter: True)) == len(sent) - 3
