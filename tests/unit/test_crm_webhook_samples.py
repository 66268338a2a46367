"""The signed samples under events/crm_webhook/ are genuine: each verifies with the local development
secret at its own timestamp and parses as the event type it is named for."""

import json
from pathlib import Path

import pytest

from qbsync.api.resolver import raw_body
from qbsync.models.crm_events import parse_event
from qbsync.signatures.standard_webhooks import verify
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "events" / "crm_webhook").glob("*.json"))


def test_there_is_a_sample_for_every_event_type():
    types = {json.loads(raw_body(json.loads(p.read_text())))["type"] for p in SAMPLES}
    assert types == {"invoice.sent", "invoice.updated", "invoice.paid", "invoice.partially_paid", "invoice.voided",
                     "invoice.deleted", "payment.succeeded"}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_is_signed_and_well_formed(sample):
    event = json.loads(sample.read_text())
    body = raw_body(event)
    verify([DEFAULT_CRM_INBOUND_SECRET], event["headers"], body, now=int(event["headers"]["webhook-timestamp"]))
    parsed = parse_event(body)
    assert parsed.type.replace(".", "_") in sample.stem
