"""`sam build` output is what Lambda runs: each built function must import its handler with nothing on
sys.path but its own folder, the two built layers (/opt/python) and what the Lambda runtime itself ships."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.tools

# The AWS Lambda Python runtime ships boto3 and its dependencies; our dependencies layer leaves them out.
RUNTIME_PROVIDED = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"]

IMPORT_CHECK = """
import importlib, sys
sys.path[:0] = {paths!r}
module_name, _, handler_name = {handler!r}.rpartition(".")
module = importlib.import_module(module_name)
handler = getattr(module, handler_name)
assert callable(handler), "handler is not callable"
for name, mod in list(sys.modules.items()):
    origin = getattr(mod, "__file__", None) or ""
    if "site-packages" in origin and {runtime!r} not in origin:
        raise SystemExit(f"{{name}} was imported from outside the Lambda paths: {{origin}}")
print("ok")
"""


@pytest.fixture(scope="module")
def lambda_runtime_libs(tmp_path_factory) -> Path:
    """A folder standing in for the Lambda runtime's own site-packages (boto3 and friends)."""
    import boto3

    site_packages = Path(boto3.__file__).parent.parent
    runtime = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PROVIDED:
        (runtime / name).symlink_to(site_packages / name)
    return runtime


def built_functions(build_dir: Path) -> list[tuple[str, str]]:
    template = yaml.load((build_dir / "template.yaml").read_text(), Loader=_CfnLoader)
    return [
        (logical_id, resource["Properties"]["Handler"])
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_build_produces_every_function_and_both_layers(sam_build):
    names = {p.name for p in sam_build.iterdir()}
    functions = {logical_id for logical_id, _ in built_functions(sam_build)}
    assert len(functions) == 8
    assert functions | {"QbsyncLayer", "DependenciesLayer"} <= names
    assert (sam_build / "QbsyncLayer" / "python" / "qbsync" / "__init__.py").exists()
    assert (sam_build / "DependenciesLayer" / "python" / "aws_lambda_powertools").is_dir()
    assert (sam_build / "DependenciesLayer" / "python" / "pydantic").is_dir()
    # the Tracer's X-Ray SDK ships (template: Tracing: Active), without the botocore it declares
    assert (sam_build / "DependenciesLayer" / "python" / "aws_xray_sdk").is_dir()
    # boto3 comes from the runtime, and nothing dev-only ships
    for absent in ("boto3", "botocore", "moto", "pytest", "qbo_emulator", "crm_emulator", "qbsync_local"):
        assert not (sam_build / "DependenciesLayer" / "python" / absent).exists(), absent


def test_every_built_handler_imports_with_only_the_lambda_paths(sam_build, lambda_runtime_libs):
    layers = [str(sam_build / "QbsyncLayer" / "python"), str(sam_build / "DependenciesLayer" / "python")]
    for logical_id, handler in built_functions(sam_build):
        paths = [str(sam_build / logical_id), *layers, str(lambda_runtime_libs)]
        code = IMPORT_CHECK.format(paths=paths, handler=handler, runtime=str(lambda_runtime_libs))
        # -I -S: no site-packages, no PYTHONPATH, no user site; an empty environment proves nothing
        # environment-dependent happens at import time.
        result = subprocess.run([sys.executable, "-I", "-S", "-c", code], env={}, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0 and result.stdout.strip() == "ok", (logical_id, result.stderr[-2000:])


TRACER_CHECK = """
import os, sys
sys.path[:0] = {paths!r}
from qbsync.observability import get_tracer
tracer = get_tracer()
assert tracer is not None, "tracing is off"
import aws_xray_sdk
assert aws_xray_sdk.__file__.startswith({layer!r}), aws_xray_sdk.__file__
print("ok")
"""


def test_with_active_tracing_the_built_layers_provide_the_tracer(sam_build, lambda_runtime_libs):
    # Given the environment Lambda gives a function with Tracing: Active
    layers = [str(sam_build / "QbsyncLayer" / "python"), str(sam_build / "DependenciesLayer" / "python")]
    environment = {"AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000", "LAMBDA_TASK_ROOT": "/var/task",
                   "AWS_REGION": "us-east-1", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    code = TRACER_CHECK.format(paths=[*layers, str(lambda_runtime_libs)], layer=layers[1])
    # When qbsync builds its tracer with nothing but the Lambda paths
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], env=environment, capture_output=True,
                            text=True, timeout=120, check=False)
    # Then the X-Ray SDK comes from our dependencies layer (and patches the runtime's botocore)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
