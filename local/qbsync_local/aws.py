"""moto server on 127.0.0.1, and the stack created in it from infra/template.yaml.

The resources come from the transformed template itself (no second list): moto's CloudFormation creates the
keys, tables, queues, alarms, log groups and even the Lambda functions, whose environment variables it
resolves (Refs to tables and queues, the KMS key ARN...). The local stack reads each function's environment
back from moto, so handlers run with exactly the environment the template gives them.

moto's CloudFormation has no Secrets Manager resources, so the secrets are created through the API first and
handed to the stack through the template's own "use an existing secret" parameters.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
import zipfile
from dataclasses import dataclass
from typing import Any

import boto3
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from qbsync_local.config import LocalConfig
from qbsync_local.template import PLACEHOLDER_BUCKET as ARTIFACT_BUCKET
from qbsync_local.template import SamTemplate, for_moto, transform_template

REGION = "us-east-1"
STACK_NAME = "qbsync-local"

# Dummy credentials for moto; exported to the handlers too, so nothing ever reaches a real AWS account.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class MotoServer:
    def __init__(self, port: int = 0) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.url = ""

    def start(self) -> "MotoServer":
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto keeps its state in process-wide backends: a stack started after another one in the same
        # process (tests) would otherwise find the previous stack's tables, queues and secrets.
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)
        return self

    def stop(self) -> None:
        self._server.stop()


@dataclass(frozen=True)
class DeployedStack:
    account_id: str
    region: str
    outputs: dict[str, str]
    physical_ids: dict[str, str]  # logical id → physical id (table name, queue URL, function name...)
    function_environment: dict[str, dict[str, str]]  # logical id → environment variables

    def queue_url(self, logical_id: str) -> str:
        return self.physical_ids[logical_id]


def _zip_placeholder() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # moto stores the function; the local runtime runs our real code from functions/ instead.
        archive.writestr("app.py", "def handler(event, context):\n    raise RuntimeError('run by qbsync_local')\n")
    return buffer.getvalue()


def _create_secrets(secrets: Any, config: LocalConfig) -> dict[str, str]:
    values = {
        "IntuitSecretArn": {
            "client_id": config.intuit_client_id,
            "client_secret": config.intuit_client_secret,
            "verifier_token": config.intuit_verifier_token,
        },
        "CrmSecretsArn": {"inbound": list(config.crm_webhook_secrets), "outbound": config.crm_outbound_secret},
        "ApiKeySecretArn": {"api_key_sha256": hashlib.sha256(config.api_key.encode()).hexdigest()},
    }
    arns = {}
    for parameter, value in values.items():
        response = secrets.create_secret(Name=f"{STACK_NAME}/{parameter}", SecretString=json.dumps(value))
        arns[parameter] = response["ARN"]
    return arns


def deploy_stack(endpoint_url: str, config: LocalConfig, parameters: dict[str, str]) -> DeployedStack:
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing",
                                    aws_secret_access_key="testing", aws_session_token="testing")

    def aws(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    parameters = {**parameters, **_create_secrets(aws("secretsmanager"), config)}
    sam = SamTemplate()
    cfn = for_moto(transform_template(sam, parameters, region=REGION))

    s3 = aws("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    placeholder = _zip_placeholder()
    for resource in cfn["Resources"].values():
        location = resource.get("Properties", {}).get("Code") or resource.get("Properties", {}).get("Content")
        if isinstance(location, dict) and location.get("S3Bucket") == ARTIFACT_BUCKET:
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=location["S3Key"], Body=placeholder)

    cloudformation = aws("cloudformation")
    cloudformation.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(cfn),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"local stack failed: {stack['StackStatus']} {stack.get('StackStatusReason')}")
    physical_ids = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=STACK_NAME):
        for summary in page["StackResourceSummaries"]:
            if summary.get("LogicalResourceId"):
                physical_ids[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")

    lambda_client = aws("lambda")
    environments = {}
    for spec in sam.functions(parameters):
        configuration = lambda_client.get_function_configuration(FunctionName=physical_ids[spec.logical_id])
        variables = configuration.get("Environment", {}).get("Variables", {})
        environments[spec.logical_id] = {name: str(value) for name, value in variables.items()}

    account_id = aws("sts").get_caller_identity()["Account"]
    return DeployedStack(
        account_id=account_id,
        region=REGION,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        physical_ids=physical_ids,
        function_environment=environments,
    )
