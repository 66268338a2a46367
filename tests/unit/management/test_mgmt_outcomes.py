"""Counting outcomes: names, object types, and that counting never fails a message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from qbsync.errors import ValidationFailedError
from qbsync.repositories.sync_stats import OutcomeCount
from qbsync.sync.outcomes import object_type_for_event, outcome_name, record_dead_letter, record_outcome
from qbsync.sync.tenant_status import outcome_counts


class Stats:
    def __init__(self, fail=False):
        self.calls, self.fail = [], fail

    def increment(self, *args, amount=1):
        if self.fail:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
        self.calls.append(args if amount == 1 else (*args, amount))


def test_names():
    assert outcome_name("applied") == "synced" and outcome_name("skipped") == "skipped"
    with pytest.raises(ValueError):
        outcome_name("exploded")
    assert [object_type_for_event(t) for t in ("invoice.sent", "invoice.paid", "invoice.partially_paid",
                                               "invoice.deleted", "payment.succeeded", None)] == [
        "invoices", "payments", "payments", "invoices", "sales_receipts", "events"]


def test_record_outcome_counts_and_never_raises_on_a_storage_error(capsys):
    stats = Stats()
    record_outcome("loc_1", "invoices", "applied", None, stats=stats)
    record_outcome("loc_1", "invoices", "skipped", "already_synced", stats=stats)
    record_outcome(None, "invoices", "skipped", "x", stats=stats)  # no tenant: a metric, no counter
    assert stats.calls == [("loc_1", "invoices", "synced", None), ("loc_1", "invoices", "skipped", "already_synced")]
    record_outcome("loc_1", "invoices", "applied", stats=Stats(fail=True))
    assert '"SyncOutcome"' in capsys.readouterr().out  # the EMF metric line


def record(attributes, body='{"tenant_id": "loc_body"}'):
    return SQSRecord({"messageId": "m1", "body": body, "attributes": {}, "messageAttributes": {
        name: {"stringValue": value, "dataType": "String"} for name, value in attributes.items()}})


def test_dead_letters_count_as_failed_for_their_tenant_and_object():
    stats = Stats()
    error = ValidationFailedError("no", code="tax_code_unmapped")
    record_dead_letter(record({"tenant_id": "loc_1", "event_type": "invoice.paid"}), error, stats=stats)
    record_dead_letter(record({"kind": "poll_job"}), error, stats=stats)
    assert stats.calls == [("loc_1", "payments", "failed", "tax_code_unmapped"),
                           ("loc_body", "poll_jobs", "failed", "tax_code_unmapped")]


def test_counts_are_summed_per_object_with_reasons():
    at = datetime(2026, 11, 23, tzinfo=UTC)
    counts = outcome_counts([OutcomeCount("invoices", "synced", None, 3, at),
                             OutcomeCount("invoices", "skipped", "already_synced", 2, at),
                             OutcomeCount("invoices", "failed", "tax_code_unmapped", 1, None),
                             OutcomeCount("payments", "synced", None, 1, None)])
    assert counts["invoices"].model_dump() == {"synced": 3, "skipped": 2, "failed": 1,
                                               "skipped_by_reason": {"already_synced": 2},
                                               "failed_by_reason": {"tax_code_unmapped": 1}, "last_at": at}
    assert counts["payments"].synced == 1
