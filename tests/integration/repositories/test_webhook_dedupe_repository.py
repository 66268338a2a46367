"""WebhookDeduplicator on moto, with the idempotency table created from the template's own definition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbsync.repositories.webhook_dedupe import DEDUPE_SECONDS, WebhookDeduplicator

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb(template_table):
    return template_table("IdempotencyTable", "idempotency")


@pytest.fixture
def seen(dynamodb):
    return WebhookDeduplicator(table_name="idempotency", dynamodb=dynamodb)


def mark(seen, tenant_id="loc_1", webhook_id="msg_1", *, now=NOW, event_id="evt_1"):
    """True when this delivery claimed the webhook id (its first)."""
    return seen.claim(tenant_id, webhook_id, event_id=event_id, now=now) is None


def test_the_first_delivery_is_marked_and_a_repeat_is_not(seen):
    assert mark(seen)
    assert not mark(seen)
    assert not mark(seen, now=NOW + timedelta(days=6))
    assert mark(seen, webhook_id="msg_2")


def test_a_repeat_learns_which_event_the_id_was_first_received_with(seen):
    assert seen.claim("loc_1", "msg_1", event_id="evt_1", now=NOW) is None
    assert seen.claim("loc_1", "msg_1", event_id="evt_1", now=NOW) == "evt_1"
    assert seen.claim("loc_1", "msg_1", event_id="evt_other", now=NOW) == "evt_1"


def test_unclaim_gives_back_only_this_events_claim_and_never_raises(seen):
    assert mark(seen)
    seen.unclaim("loc_1", "msg_1", event_id="evt_other")  # not its claim: kept
    assert not mark(seen)
    seen.unclaim("loc_1", "msg_1", event_id="evt_1")
    assert mark(seen)
    WebhookDeduplicator(table_name="no-such-table", dynamodb=seen._dynamodb).unclaim(
        "loc_1", "msg_1", event_id="evt_1")


def test_the_same_webhook_id_of_another_tenant_is_its_own(seen):
    assert mark(seen, "loc_1")
    assert mark(seen, "loc_2")


def test_a_marker_lasts_seven_days_and_counts_as_absent_after_even_before_ttl_deletes_it(seen, dynamodb):
    assert mark(seen)
    (item,) = dynamodb.scan(TableName="idempotency")["Items"]
    assert int(item["expiration"]["N"]) == int(NOW.timestamp()) + DEDUPE_SECONDS == int(NOW.timestamp()) + 7 * 86400
    assert mark(seen, now=NOW + timedelta(seconds=DEDUPE_SECONDS + 1))


def test_the_key_names_the_tenant_and_never_holds_the_raw_webhook_id(seen, dynamodb):
    long_id = "msg_" + "x/" * 600  # a sender's id of any length or alphabet
    assert mark(seen, "loc_1", long_id)
    (item,) = dynamodb.scan(TableName="idempotency")["Items"]
    assert item["id"]["S"].startswith("crm_webhook#loc_1#") and len(item["id"]["S"]) < 100
    assert item["tenant_id"]["S"] == "loc_1" and item["event_id"]["S"] == "evt_1"
    assert not mark(seen, "loc_1", long_id)
