"""The template, transformed offline exactly as CloudFormation would (aws-sam-translator), creates in moto
the tables, keys, queues and redrive policies it promises; what moto's CloudFormation cannot create
(alarms, secrets) is checked on the transformed template itself."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from qbsync_local.template import PLACEHOLDER_BUCKET, SamTemplate, for_moto, transform_template

PARAMETERS = {"CrmBaseUrl": "https://crm.example.com/qbsync"}
STACK = "qbsync-test"


@pytest.fixture(scope="module")
def transformed():
    return transform_template(None, PARAMETERS)


@pytest.fixture(scope="module")
def stack(transformed):
    cfn = for_moto(transformed)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=PLACEHOLDER_BUCKET)
        for resource in cfn["Resources"].values():
            location = resource["Properties"].get("Code") or resource["Properties"].get("Content")
            if isinstance(location, dict) and "S3Key" in location:
                s3.put_object(Bucket=PLACEHOLDER_BUCKET, Key=location["S3Key"], Body=b"PK\x05\x06" + b"\0" * 18)
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        # moto's CloudFormation has no Secrets Manager: hand it existing secret ARNs, as an operator can.
        secrets = {name: f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}"
                   for name in ("IntuitSecretArn", "CrmSecretsArn", "ApiKeySecretArn")}
        cloudformation.create_stack(
            StackName=STACK, TemplateBody=json.dumps(cfn), Capabilities=["CAPABILITY_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {**PARAMETERS, **secrets}.items()],
        )
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
            if r.get("LogicalResourceId")
        }
        yield resources


def describe_table(stack, logical_id):
    return boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=stack[logical_id])["Table"]


TABLES = ("ConnectionsTable", "MappingsTable", "IdempotencyTable", "RateLimitTable")


def test_tables_are_encrypted_with_the_data_key_recoverable_and_expire_by_ttl(transformed):
    # moto's CloudFormation ignores SSESpecification, PITR and TTL, so these are read off the template
    # CloudFormation receives.
    expected_ttl = {"ConnectionsTable": "expires_at", "IdempotencyTable": "expiration",
                    "RateLimitTable": "expires_at"}
    for logical_id in TABLES:
        properties = transformed["Resources"][logical_id]["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                                   "KMSMasterKeyId": {"Ref": "DataKey"}}
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        if logical_id in expected_ttl:
            assert properties["TimeToLiveSpecification"] == {"AttributeName": expected_ttl[logical_id],
                                                             "Enabled": True}


def test_table_keys_and_indexes_as_created(stack):
    connections = describe_table(stack, "ConnectionsTable")
    assert {k["AttributeName"]: k["KeyType"] for k in connections["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    by_realm = {i["IndexName"]: i for i in connections["GlobalSecondaryIndexes"]}["by_realm"]
    assert [k["AttributeName"] for k in by_realm["KeySchema"]] == ["realm_id", "pk"]

    mappings = describe_table(stack, "MappingsTable")
    assert {k["AttributeName"]: k["KeyType"] for k in mappings["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    by_qbo = {i["IndexName"]: i for i in mappings["GlobalSecondaryIndexes"]}["by_qbo_id"]
    assert [k["AttributeName"] for k in by_qbo["KeySchema"]] == ["qbo_key"]
    assert by_qbo["Projection"]["ProjectionType"] == "ALL"

    assert [k["AttributeName"] for k in describe_table(stack, "IdempotencyTable")["KeySchema"]] == ["id"]
    assert describe_table(stack, "RateLimitTable")["TableStatus"] == "ACTIVE"


def test_fifo_queues_have_fifo_dead_letter_queues_with_max_receive_count(stack):
    sqs = boto3.client("sqs", region_name="us-east-1")
    for queue, dlq in [("CrmEventsQueue", "CrmEventsDeadLetterQueue"), ("PollJobsQueue", "PollJobsDeadLetterQueue")]:
        attributes = sqs.get_queue_attributes(QueueUrl=stack[queue], AttributeNames=["All"])["Attributes"]
        dlq_attributes = sqs.get_queue_attributes(QueueUrl=stack[dlq], AttributeNames=["All"])["Attributes"]
        assert attributes["FifoQueue"] == "true" and dlq_attributes["FifoQueue"] == "true"
        assert attributes["ContentBasedDeduplication"] == "false"
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq_attributes["QueueArn"]
        assert int(redrive["maxReceiveCount"]) == 5
        assert attributes["KmsMasterKeyId"]
        # Lambda's guidance: visibility timeout at least six times the consuming function's timeout
        consumer = next(f for f in SamTemplate().functions() if any(s.queue_logical_id == queue
                                                                    for s in f.sqs_sources))
        assert int(attributes["VisibilityTimeout"]) >= 6 * consumer.timeout
        assert int(dlq_attributes["MessageRetentionPeriod"]) == 14 * 24 * 3600


def test_crm_event_queues_take_a_json_escaped_256_kb_webhook_body(stack, transformed):
    # A CRM body of up to 256 KB travels as an escaped string inside our message, which can then exceed
    # SQS's old 256 KB default; the queue and its DLQ are set to SQS's maximum, 1 MiB, explicitly.
    sqs = boto3.client("sqs", region_name="us-east-1")
    for queue in ("CrmEventsQueue", "CrmEventsDeadLetterQueue"):
        assert transformed["Resources"][queue]["Properties"]["MaximumMessageSize"] == 1048576, queue
        attributes = sqs.get_queue_attributes(QueueUrl=stack[queue], AttributeNames=["MaximumMessageSize"])
        assert int(attributes["Attributes"]["MaximumMessageSize"]) == 1048576, queue


def test_keys_rotate(stack):
    kms = boto3.client("kms", region_name="us-east-1")
    for logical_id in ("DataKey", "TokenKey"):
        assert kms.get_key_rotation_status(KeyId=stack[logical_id])["KeyRotationEnabled"] is True


def test_schedule_rule_fires_every_five_minutes_with_retry_policy_and_dlq(stack):
    events = boto3.client("events", region_name="us-east-1")
    rule_name = stack["PollSchedulerFunctionTick"]
    assert events.describe_rule(Name=rule_name)["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 240}
    assert target["DeadLetterConfig"]["Arn"].endswith(stack["ScheduleDeadLetterQueue"].rsplit("/", 1)[1])


def test_every_function_logs_to_its_own_group_with_retention_and_kms(stack, transformed):
    logs = boto3.client("logs", region_name="us-east-1")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups()["logGroups"]}
    functions = [k for k, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 8
    group_refs = set()
    for logical_id in functions:
        group_ref = transformed["Resources"][logical_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        group_refs.add(group_ref)
        assert groups[stack[group_ref]]["retentionInDays"] == 30
        # moto ignores KmsKeyId on log groups: read it off the template
        assert transformed["Resources"][group_ref]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert len(group_refs) == len(functions)


def test_alarms_watch_every_dead_letter_queue_and_every_function(transformed):
    alarms = [r["Properties"] for r in transformed["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    dlq_alarmed = {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms
                   if a["MetricName"] == "ApproximateNumberOfMessagesVisible"}
    assert dlq_alarmed == {"CrmEventsDeadLetterQueue", "PollJobsDeadLetterQueue", "ScheduleDeadLetterQueue"}
    error_alarmed = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["MetricName"] == "Errors"}
    functions = {k for k, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert error_alarmed == functions
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


def test_secrets_hold_no_value_in_the_template(transformed):
    secrets = [r["Properties"] for r in transformed["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret"]
    assert len(secrets) == 3
    for secret in secrets:
        assert "SecretString" not in secret
        assert secret["KmsKeyId"] == {"Ref": "DataKey"}


def test_function_policies_are_scoped_to_named_resources(transformed):
    """Least privilege: no statement of ours grants an action on every resource."""
    allowed_wildcards = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                         "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"}
    for logical_id, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "*" in resources:
                    assert set(actions) <= allowed_wildcards, (logical_id, actions)
                assert not any(a.endswith(":*") or a == "*" for a in actions), (logical_id, actions)


def test_outputs_name_the_urls_a_crm_vendor_and_devops_need(transformed):
    assert {"ApiUrl", "ConnectUrl", "OAuthRedirectUri", "IntuitDisconnectUrl", "CrmWebhookUrl", "QboWebhookUrl",
            "CrmEventsQueueUrl", "CrmEventsDeadLetterQueueUrl", "PollJobsQueueUrl",
            "PollJobsDeadLetterQueueUrl"} <= set(transformed["Outputs"])
