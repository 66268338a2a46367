"""infra/template.yaml read the two ways the local stack and the infra tests need it.

- `SamTemplate.functions()` reads the SAM source: each function's code folder, handler, HTTP routes, SQS
  sources and schedules. The local API Gateway, queue runners and timers are built from this, so a route
  or a queue added to the template is served locally with no second list to keep in step.
- `transform_template()` runs the same AWS::Serverless transform CloudFormation runs (aws-sam-translator,
  offline) so that moto can create the tables, queues and keys exactly as declared.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "infra" / "template.yaml"

# Placeholders for local code paths: CloudFormation (and moto) need S3 locations, never folders.
PLACEHOLDER_BUCKET = "qbsync-local-artifacts"


@dataclass(frozen=True)
class HttpRoute:
    method: str  # "GET", ... or "ANY"
    path: str  # "/tenants/{tenant_id}/settings" or "$default"


@dataclass(frozen=True)
class SqsSource:
    queue_logical_id: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class ScheduleSource:
    name: str
    expression: str  # "rate(5 minutes)" after parameter resolution
    parameter: str | None = None  # the template parameter the expression comes from, if any


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, Any]
    routes: tuple[HttpRoute, ...] = ()
    sqs_sources: tuple[SqsSource, ...] = ()
    schedules: tuple[ScheduleSource, ...] = ()


@dataclass
class SamTemplate:
    path: Path = TEMPLATE_PATH
    document: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.document = yaml_parse(self.path.read_text())

    @property
    def resources(self) -> dict[str, Any]:
        return self.document["Resources"]

    def parameter_defaults(self) -> dict[str, Any]:
        return {
            name: spec["Default"]
            for name, spec in self.document.get("Parameters", {}).items()
            if "Default" in spec
        }

    def resolve_parameter(self, value: Any, parameters: dict[str, Any]) -> Any:
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return value

    def functions(self, parameters: dict[str, Any] | None = None) -> list[FunctionSpec]:
        params = {**self.parameter_defaults(), **(parameters or {})}
        globals_ = self.document.get("Globals", {}).get("Function", {})
        specs = []
        for logical_id, resource in self.resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            props = {**globals_, **resource["Properties"]}
            environment = {
                **globals_.get("Environment", {}).get("Variables", {}),
                **resource["Properties"].get("Environment", {}).get("Variables", {}),
            }
            routes, sqs_sources, schedules = [], [], []
            for event_name, event in props.get("Events", {}).items():
                event_props = event.get("Properties", {})
                if event["Type"] == "HttpApi":
                    routes.append(HttpRoute(event_props["Method"].upper(), event_props["Path"]))
                elif event["Type"] == "SQS":
                    queue = event_props["Queue"]["Fn::GetAtt"][0] if isinstance(
                        event_props["Queue"]["Fn::GetAtt"], list
                    ) else event_props["Queue"]["Fn::GetAtt"].split(".")[0]
                    sqs_sources.append(SqsSource(
                        queue_logical_id=queue,
                        batch_size=int(event_props.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in event_props.get("FunctionResponseTypes", []),
                    ))
                elif event["Type"] == "Schedule":
                    expression = event_props["Schedule"]
                    parameter = expression.get("Ref") if isinstance(expression, dict) else None
                    schedules.append(ScheduleSource(
                        event_name, str(self.resolve_parameter(expression, params)), parameter
                    ))
            specs.append(FunctionSpec(
                logical_id=logical_id,
                code_dir=(self.path.parent / props["CodeUri"]).resolve(),
                handler=props["Handler"],
                timeout=int(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                environment=environment,
                routes=tuple(routes),
                sqs_sources=tuple(sqs_sources),
                schedules=tuple(schedules),
            ))
        return specs


def _with_placeholder_artifacts(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    for logical_id, resource in document["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
    return document


def transform_template(
    sam: SamTemplate | None = None,
    parameters: dict[str, Any] | None = None,
    *,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """The CloudFormation template CloudFormation would create from ours (code paths → S3 placeholders).

    Offline: the translator only asks IAM for managed policies named by bare name, and the template names
    none (an empty policy map), and the region comes from a session built here, not from the machine.
    """
    sam = sam or SamTemplate()
    params = {**sam.parameter_defaults(), **(parameters or {})}
    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=region))
    return translator.translate(_with_placeholder_artifacts(sam.document), parameter_values=params)


def for_moto(cfn: dict[str, Any], *, keep_types: frozenset[str] | None = None) -> dict[str, Any]:
    """Adapt a transformed template to what moto's CloudFormation accepts.

    - moto's KMS wants the key policy as a JSON string.
    - Event source mappings are dropped: moto would otherwise consume queue messages itself; the local
      queue runner plays Lambda's part instead.
    - `keep_types`, when given, keeps only those resource types (and the conditions they need).
    """
    cfn = copy.deepcopy(cfn)
    resources = {}
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            continue
        if keep_types is not None and resource["Type"] not in keep_types:
            continue
        if resource["Type"] == "AWS::KMS::Key" and isinstance(resource["Properties"].get("KeyPolicy"), dict):
            resource["Properties"]["KeyPolicy"] = json.dumps(resource["Properties"]["KeyPolicy"])
        resources[logical_id] = resource
    cfn["Resources"] = resources
    if keep_types is not None:
        cfn.pop("Outputs", None)
    return cfn
