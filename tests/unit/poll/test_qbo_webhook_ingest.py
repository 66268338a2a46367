"""`POST /webhooks/qbo` logic: signature on the raw body, both payload formats, realm → tenant, one job per
realm and time bucket, 200 for anything signed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from qbsync.signatures.intuit import intuit_signature
from qbsync.sync.poll.jobs import deduplication_id, webhook_bucket_end
from qbsync.sync.poll.webhook import changed_realms, ingest_qbo_webhook

TOKEN = "verifier-token"
NOW = datetime(2026, 11, 23, 10, 0, 1, 500000, tzinfo=UTC)
LEGACY = {"eventNotifications": [{"realmId": "1185883450", "dataChangeEvent": {"entities": [
    {"name": "Customer", "id": "1", "operation": "Create", "lastUpdated": "2015-10-05T14:42:19-0700"}]}}]}
CLOUD_EVENTS = [
    {"specversion": "1.0", "id": "e1", "source": "intuit.x", "type": "qbo.invoice.updated.v1",
     "datacontenttype": "application/json", "time": "2026-11-23T10:00:00Z", "intuitentityid": "31",
     "intuitaccountid": "4620816365", "data": {}},
    {"specversion": "1.0", "id": "e2", "type": "qbo.account.created.v1", "intuitaccountid": "999"},
]


class Queue:
    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, message, *, group_id, deduplication_id, attributes=None):  # noqa: ANN001, ANN201
        self.published.append({"message": message, "group": group_id, "dedup": deduplication_id})
        return f"m{len(self.published)}"


def _ingest(body: bytes, *, signature: str | None = None, owners: dict[str, str] | None = None):  # noqa: ANN202
    queue = Queue()
    headers = {"Intuit-Signature": signature if signature is not None else intuit_signature(TOKEN, body),
               "Content-Type": "application/cloudevents+json"}
    owners = {"1185883450": "loc_1", "4620816365": "loc_2"} if owners is None else owners
    outcome = ingest_qbo_webhook(body=body, headers=headers, verifier_token=TOKEN, realm_owner=owners.get,
                                 queue=queue, clock=lambda: NOW)
    return outcome, queue.published


def test_both_payload_formats_name_the_realms_with_relevant_changes():
    assert changed_realms(LEGACY) == ["1185883450"]
    assert changed_realms(CLOUD_EVENTS) == ["4620816365"]  # an Account change is nothing the poll reads
    assert changed_realms(CLOUD_EVENTS[0]) == ["4620816365"]  # a single structured CloudEvent
    odd = [{"type": 5}, "odd", {"type": "qbo.customer.created.v1", "intuitaccountid": "x/1"}]
    assert changed_realms(odd) == []


def test_a_signed_notification_enqueues_one_poll_job_per_company_grouped_by_tenant():
    outcome, published = _ingest(json.dumps(LEGACY).encode())
    assert (outcome.status, outcome.http_status, outcome.enqueued) == ("accepted", 200, ["1185883450"])
    [job] = published
    assert job["group"] == "loc_1"
    assert job["message"].model_dump(mode="json") == {"tenant_id": "loc_1", "realm_id": "1185883450",
                                                      "reason": "qbo_webhook",
                                                      "requested_at": "2026-11-23T10:00:01.500000Z"}
    assert job["dedup"] == deduplication_id("qbo_webhook", "loc_1", "1185883450", NOW)


def test_a_bad_or_missing_signature_is_refused_and_enqueues_nothing():
    body = json.dumps(LEGACY).encode()
    for signature in ("", intuit_signature("another-token", body), intuit_signature(TOKEN, body + b" ")):
        outcome, published = _ingest(body, signature=signature)
        assert (outcome.status, outcome.http_status, published) == ("rejected", 401, [])
        assert outcome.body()["error"]["code"] == "invalid_signature"


def test_anything_signed_is_answered_200_even_when_odd():
    for body in (b"not json", json.dumps({"eventNotifications": "odd"}).encode(), b"[]",
                 json.dumps([{"type": "qbo.customer.created.v1", "intuitaccountid": "777"}]).encode()):
        outcome, published = _ingest(body)
        assert outcome.http_status == 200 and published == []
    assert _ingest(b"[]")[0].reason == "no_relevant_change"


def test_notifications_within_one_window_share_a_deduplication_id_and_the_job_waits_for_its_end():
    later = NOW.replace(microsecond=900000)
    assert deduplication_id("qbo_webhook", "t", "1", NOW) == deduplication_id("qbo_webhook", "t", "1", later)
    end = webhook_bucket_end(NOW)
    assert NOW < end
    assert deduplication_id("qbo_webhook", "t", "1", end) != deduplication_id("qbo_webhook", "t", "1", NOW)
