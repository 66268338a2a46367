"""Run as a script by test_tracing.py, in a process of its own (the X-Ray SDK's recorder and its botocore
patch are process-wide, so they must not leak into the rest of the test session).

Starts the local stack, connects a tenant, then turns tracing on the way Lambda with active tracing does
(`AWS_XRAY_DAEMON_ADDRESS`, `LAMBDA_TASK_ROOT`, a sampled `_X_AMZN_TRACE_ID`), swaps the real recorder's UDP
emitter for one that keeps what it would send, and sends one signed `invoice.sent` CRM webhook: the webhook
handler enqueues it and the CRM events worker applies it to the QBO emulator. Prints, as JSON, every
(sub)segment the SDK emitted (flattened), and the tenant, event id and secrets to look for, on the
line that starts with RESULT_MARKER.
"""

from __future__ import annotations

import json
import os
import sys
import time

from connect_helpers import connect

from crm_emulator.builders import invoice_sent
from crm_emulator.webhooks import CrmWebhookSender
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET, DEFAULT_CRM_OUTBOUND_SECRET, LocalConfig
from qbsync_local.stack import LocalStack

TENANT = "loc_traced"
RESULT_MARKER = "TRACED-RUN "  # the handlers' JSON log lines share stdout
TRACE_HEADER = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"


def flatten(document: dict, into: list[dict]) -> None:
    into.append({"name": document.get("name"), "annotations": document.get("annotations", {}),
                 "has_error": bool(document.get("fault") or document.get("error"))})
    for child in document.get("subsegments", []):
        flatten(child, into)


def main() -> None:
    config = LocalConfig(api_port=0, retry_delay_seconds=0, poll_interval_seconds=3600,
                         return_url_allowlist="http://localhost:8080",
                         extra_parameters={"QboThrottleWaitSeconds": "1"})
    with LocalStack(config, start_schedules=False) as stack:
        realm = connect(stack, TENANT)
        # Lambda with active tracing; the stack itself set POWERTOOLS_TRACE_DISABLED=true (no daemon locally).
        os.environ.update({"POWERTOOLS_TRACE_DISABLED": "false", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                           "LAMBDA_TASK_ROOT": os.getcwd(), "_X_AMZN_TRACE_ID": TRACE_HEADER})
        from qbsync import observability

        observability.get_tracer.cache_clear()
        assert "aws_xray_sdk" not in sys.modules, "the X-Ray SDK was imported while tracing was off"
        tracer = observability.get_tracer()
        assert tracer is not None

        from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

        emitted: list[str] = []

        class KeepingEmitter(UDPEmitter):
            def send_entity(self, entity) -> None:  # noqa: ANN001 - an X-Ray entity
                emitted.append(entity.serialize())

        tracer.provider.configure(emitter=KeepingEmitter())

        event = invoice_sent(TENANT)
        sender = CrmWebhookSender(f"{stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])
        answer = sender.send(event)
        assert answer.status_code == 202, answer.text

        deadline = time.monotonic() + 60
        while not any('"name": "crm_event"' in doc or '"name":"crm_event"' in doc for doc in emitted):
            if time.monotonic() > deadline:
                raise SystemExit("the CRM events worker's subsegment was never emitted")
            time.sleep(0.1)
        time.sleep(0.5)  # let the worker's handler subsegment close and stream out

        segments: list[dict] = []
        for document in emitted:
            flatten(json.loads(document), segments)
        print(RESULT_MARKER + json.dumps({"tenant_id": TENANT, "realm_id": realm, "event_id": event["id"],
                          "secrets": [DEFAULT_CRM_INBOUND_SECRET, DEFAULT_CRM_OUTBOUND_SECRET], "raw": emitted,
                          "segments": segments}))


if __name__ == "__main__":
    main()
