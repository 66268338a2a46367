"""Every sample under events/ is accepted by the function it is named for (on the local stack)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EVENTS = Path(__file__).resolve().parents[3] / "events"
FUNCTION_FOR_FOLDER = {
    "health": "HealthFunction",
    "connect": "ConnectFunction",
    "crm_webhook": "CrmWebhookFunction",
    "qbo_webhook": "QboWebhookFunction",
    "management_api": "ManagementApiFunction",
    "crm_event_worker": "CrmEventWorkerFunction",
    "poll_scheduler": "PollSchedulerFunction",
    "poll_worker": "PollWorkerFunction",
}
SAMPLES = sorted(EVENTS.glob("*/*.json"))


def test_every_function_has_a_sample_folder_name_we_know():
    assert {path.parent.name for path in SAMPLES} <= set(FUNCTION_FOR_FOLDER)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_event_runs_through_its_function(foundation_stack, sample):
    function = foundation_stack.functions[FUNCTION_FOR_FOLDER[sample.parent.name]]
    result = function.invoke(json.loads(sample.read_text()))
    if "statusCode" in (result or {}):
        assert result["statusCode"] < 500 or result["statusCode"] in (501, 503), result
        content_type = {k.lower(): v for k, v in (result.get("headers") or {}).items()}.get("content-type", "")
        if content_type.startswith("text/html"):
            assert "<meta name=\"qbsync-code\"" in result["body"]  # a page for a browser, with its code
        else:
            json.loads(result["body"])  # every other answer is JSON
    elif "Records" in json.loads(sample.read_text()):
        # a queue worker answers in Lambda's partial batch response format
        assert set(result) == {"batchItemFailures"}
    else:
        assert result is not None
