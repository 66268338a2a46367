"""Point the qbsync package at a deployed stack (or the local one) the way a Lambda is pointed at it.

The management function's own environment, read back from Lambda, names every table and queue; the CLI
adopts it, so its commands run the very code the API runs, against the very same resources.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

LOCAL_STACK_FILE = Path(".local-stack") / "stack.json"


@dataclass(frozen=True)
class Target:
    stack_name: str
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def local(cls, path: Path = LOCAL_STACK_FILE) -> "Target":
        """The stack `make run` started (it writes where moto listens to .local-stack/stack.json)."""
        if not path.exists():
            raise SystemExit(f"no local stack found ({path} is missing): start one with `make run`")
        data = json.loads(path.read_text())
        return cls(stack_name=data["stack_name"], region=data["region"], endpoint_url=data["endpoint_url"])


def session_for(target: Target) -> boto3.session.Session:
    return boto3.session.Session(profile_name=target.profile, region_name=target.region)


def client(target: Target, service: str) -> Any:
    return session_for(target).client(service, endpoint_url=target.endpoint_url)


def adopt_stack_environment(target: Target) -> dict[str, str]:
    """Set this process's environment to the management function's, and boto3's to the target."""
    cloudformation = client(target, "cloudformation")
    resources = cloudformation.describe_stack_resources(StackName=target.stack_name)["StackResources"]
    function = next((r["PhysicalResourceId"] for r in resources if r.get("LogicalResourceId") == "ManagementApiFunction"),
                    None)
    if function is None:
        raise SystemExit(f"stack {target.stack_name} has no ManagementApiFunction")
    variables = client(target, "lambda").get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    adopted = {k: str(v) for k, v in variables.items() if k.startswith(("QBSYNC_", "POWERTOOLS_"))}
    os.environ.update(adopted)
    session = session_for(target)
    if target.region or session.region_name:
        os.environ["AWS_DEFAULT_REGION"] = target.region or session.region_name
    if target.profile:
        os.environ["AWS_PROFILE"] = target.profile
    if target.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = target.endpoint_url
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, "testing")
    from qbsync import aws_clients, settings

    aws_clients.client.cache_clear()
    settings.get_settings.cache_clear()
    return adopted
