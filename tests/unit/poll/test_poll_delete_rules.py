"""Deleted, merged-away and deactivated QBO customers and items under each delete rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from qbsync.models.mapping_records import Mapping
from qbsync.sync.poll.delete_rules import decide

NOW = datetime(2026, 11, 23, tzinfo=UTC)
ACTIVE = {"Id": "5", "Active": True}
INACTIVE = {"Id": "5", "Active": False}
DELETED = {"Id": "5", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-11-23T01:00:00-08:00"}}


def _mapping(**state) -> Mapping:  # noqa: ANN003
    return Mapping(tenant_id="t", realm_id="1", object_type="customers", crm_id="c_5", qbo_id="5",
                   created_at=NOW, updated_at=NOW, state={"origin": "qbo", **state})


@pytest.mark.parametrize("rule", ["ignore", "archive", "delete"])
def test_an_active_record_is_upserted_whatever_the_rule(rule):
    assert decide(ACTIVE, rule=rule, mapping=_mapping()).action == "upsert"
    assert decide(ACTIVE, rule=rule, mapping=None).action == "upsert"


@pytest.mark.parametrize("obj", [INACTIVE, DELETED], ids=["deactivated", "deleted_or_merged"])
@pytest.mark.parametrize(("rule", "action"),
                         [("ignore", "skip"), ("archive", "archive"), ("delete", "delete")])
def test_gone_records_follow_the_rule(obj, rule, action):
    assert decide(obj, rule=rule, mapping=_mapping()).action == action


@pytest.mark.parametrize("rule", ["ignore", "archive", "delete"])
def test_a_record_never_sent_to_the_crm_needs_nothing(rule):
    decision = decide(DELETED, rule=rule, mapping=None)
    assert (decision.action, decision.reason) == ("skip", "deleted_never_synced")


def test_an_archived_record_is_archived_once_and_restored_when_active_again():
    archived = _mapping(archived=True)
    assert decide(INACTIVE, rule="archive", mapping=archived).action == "skip"
    assert decide(ACTIVE, rule="archive", mapping=archived).action == "upsert"
