"""Tracing (SPEC F22, issue 7 §9) with the real X-Ray SDK: on in Lambda with active tracing, the handlers,
the per-record work and the QBO and CRM calls are subsegments annotated with the tenant (and event) id; off,
the ingest path never imports the SDK (a heavy import on the cold start, bench/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SOURCE_ROOTS = [REPO / "layers" / "qbsync", REPO / "local", REPO / "tools", REPO / "tests" / "support"]


def _run(code_or_script: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    pythonpath = os.pathsep.join(str(root) for root in SOURCE_ROOTS)
    return subprocess.run([sys.executable, *code_or_script], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**env, "PYTHONPATH": pythonpath}, check=False)


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {name: os.environ[name] for name in keep if name in os.environ}


@pytest.fixture(scope="module")
def traced_run() -> dict:
    # Given a connected tenant on the local stack, with tracing turned on as Lambda's active tracing does
    # When one invoice.sent webhook is delivered and the worker applies it to QBO
    result = _run([str(Path(__file__).with_name("traced_invocation.py"))], _base_env(), timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("TRACED-RUN ")]
    return json.loads(line.removeprefix("TRACED-RUN "))


def _named(run: dict, name: str) -> list[dict]:
    return [segment for segment in run["segments"] if segment["name"] == name]


def test_each_handler_invocation_is_a_subsegment(traced_run):
    handlers = _named(traced_run, "## handler")
    # the CRM webhook and the CRM events worker, each with Powertools' cold-start annotation
    assert len(handlers) >= 2
    assert all("ColdStart" in segment["annotations"] for segment in handlers)


def test_ingest_and_worker_carry_tenant_and_event_ids(traced_run):
    tenant_id, event_id = traced_run["tenant_id"], traced_run["event_id"]
    ingest = [s for s in _named(traced_run, "## handler") if s["annotations"].get("event_id") == event_id]
    assert ingest and ingest[0]["annotations"]["tenant_id"] == tenant_id
    (worker,) = _named(traced_run, "crm_event")
    assert worker["annotations"] == {"tenant_id": tenant_id, "event_id": event_id}
    assert not worker["has_error"]


def test_qbo_and_crm_calls_are_subsegments_with_the_tenant(traced_run):
    tenant_id = traced_run["tenant_id"]
    qbo_calls = _named(traced_run, "qbo")
    assert qbo_calls, "no QBO call was traced"
    assert all(call["annotations"]["tenant_id"] == tenant_id for call in qbo_calls)
    assert all(call["annotations"]["realm_id"] == traced_run["realm_id"] for call in qbo_calls)
    assert {"invoice"} <= {call["annotations"]["qbo_resource"] for call in qbo_calls}
    crm_calls = _named(traced_run, "crm")
    assert crm_calls, "no CRM call was traced"
    assert all(call["annotations"]["tenant_id"] == tenant_id for call in crm_calls)
    # AWS SDK calls (the patched botocore) are traced too
    assert {"dynamodb", "sqs"} <= {segment["name"] for segment in traced_run["segments"]}


def test_no_secret_or_token_reaches_the_trace(traced_run):
    raw = "\n".join(traced_run["raw"])
    leaked = [index for index, secret in enumerate(traced_run["secrets"]) if secret in raw]
    assert leaked == [], "a CRM secret was recorded in a trace"
    assert "Bearer " not in raw and "access_token" not in raw, "a QBO token was recorded in a trace"


_NO_SDK_PROBE = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [{function!r}]
    import app
    from qbsync.observability import annotate, get_tracer, traced
    # an invocation through the handler's tracing wrapper (a route it does not serve: no AWS call needed)
    event = {{"version": "2.0", "rawPath": "/nowhere", "routeKey": "$default", "headers": {{}},
             "requestContext": {{"http": {{"method": "GET", "path": "/nowhere"}}, "requestId": "r1",
                                "domainName": "localhost", "stage": "$default"}}, "isBase64Encoded": False}}
    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "f", 128, "r1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    answer = app.handler(event, Context())
    with traced("work", tenant_id="t1"):
        annotate(event_id="e1")
    print(json.dumps({{"status": answer["statusCode"], "tracer": get_tracer() is not None,
                      "loaded": sorted({{m.split(".")[0] for m in sys.modules if m.startswith("aws_xray_sdk")}})}}))
""")


@pytest.mark.parametrize("environment", [
    {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
     "_X_AMZN_TRACE_ID": "Root=1-67891233-abcdef012345678912345678;Sampled=1"},  # disabled explicitly
    {},  # no daemon to send to: the local stack, tests, scripts
    {"AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000"},  # a daemon, but not in Lambda: no segment to trace into
], ids=["trace-disabled", "no-daemon", "not-in-lambda"])
def test_with_tracing_off_the_ingest_path_never_imports_the_xray_sdk(environment):
    probe = _NO_SDK_PROBE.format(function=str(REPO / "functions" / "crm_webhook"))
    result = _run(["-c", probe], {**_base_env(), "AWS_DEFAULT_REGION": "us-east-1", **environment}, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {"status": 404, "tracer": False, "loaded": []}


@pytest.mark.parametrize("function", ["crm_event_worker", "poll_worker"])
def test_queue_workers_do_not_load_powertools_parser_models(function):
    # Powertools' batch module loads its pydantic parser models when pydantic is imported before it; the
    # workers import it first (bench/ cold start). A reordering of their imports would bring ~30 ms back.
    probe = (f"import sys; sys.path[:0] = [{str(REPO / 'functions' / function)!r}]; import app; "
             "print(sorted(m for m in sys.modules if m.startswith('aws_lambda_powertools.utilities.parser')))")
    result = _run(["-c", probe], _base_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
