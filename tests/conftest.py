"""Fixtures shared by every suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from waiting import wait_until

# Every log line and captured output of the whole run is scanned for secrets, tokens, codes and whole
# payloads (issue 9 §3); a finding fails the test it was logged in. See tests/support/log_capture_plugin.py.
pytest_plugins = ["log_capture_plugin"]

# Nothing in a test run may reach a real AWS account, whatever the developer's shell holds.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_until


@pytest.fixture(scope="session")
def foundation_config():
    """A local stack config for tests that exercise only the AWS side (routing, queues, health):
    QBO and CRM URLs point at a closed port, so any accidental call fails loudly."""
    from qbsync_local.config import LocalConfig

    return LocalConfig(
        api_port=0,
        qbo_api_url="http://127.0.0.1:9/v3",
        intuit_auth_url="http://127.0.0.1:9/auth",
        intuit_token_url="http://127.0.0.1:9/token",
        intuit_revoke_url="http://127.0.0.1:9/revoke",
        crm_base_url="http://127.0.0.1:9",
        retry_delay_seconds=0,
        poll_interval_seconds=3600,
    )


@pytest.fixture(scope="module")
def foundation_stack(foundation_config) -> Iterator[Any]:
    from qbsync_local.stack import LocalStack

    with LocalStack(foundation_config, start_schedules=False) as stack:
        yield stack


@pytest.fixture
def queue_depth() -> Callable[[Any, str], int]:
    """Messages on a queue, visible or in flight."""

    def depth(sqs: Any, url: str) -> int:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"])

    return depth


@pytest.fixture(scope="session")
def full_config():
    """The local stack as `make run` starts it (QBO and CRM emulators included), on free ports, with
    failed queue records retried at once."""
    from qbsync_local.config import LocalConfig

    return LocalConfig(api_port=0, retry_delay_seconds=0, poll_interval_seconds=3600,
                       return_url_allowlist="http://localhost:8080,https://crm.example.com",
                       # a 429 without Retry-After is waited out for 1 s instead of QBO's 60 s
                       extra_parameters={"QboThrottleWaitSeconds": "1"})


@pytest.fixture(scope="module")
def full_stack(full_config) -> Iterator[Any]:
    from qbsync_local.stack import LocalStack

    with LocalStack(full_config, start_schedules=False) as stack:
        yield stack


@pytest.fixture
def template_table() -> Iterator[Callable[[str, str], Any]]:
    """In-process moto with a table created from the template's own definition of `logical_id`;
    yields a factory returning the low-level DynamoDB client."""
    import boto3
    from moto import mock_aws

    from qbsync_local.template import SamTemplate

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")

        def create(logical_id: str, table_name: str) -> Any:
            definition = SamTemplate().resources[logical_id]["Properties"]
            extra = {k: definition[k] for k in ("GlobalSecondaryIndexes",) if k in definition}
            dynamodb.create_table(TableName=table_name, BillingMode="PAY_PER_REQUEST",
                                  AttributeDefinitions=definition["AttributeDefinitions"],
                                  KeySchema=definition["KeySchema"], **extra)
            return dynamodb

        yield create
