"""The poll in the tenant's status and metrics (SPEC F20, F22), and the daily checks every connected company
gets whatever its poll frequency (SPEC "Expiry warnings: checked at connect, on every refresh and daily").

Through the local stack: the real poll worker runs jobs from the poll queue against the QBO and CRM
emulators; the status comes from `GET /tenants/{t}/status`. Webhooks are held back and no schedule runs, so
the only poll jobs are the ones each test asks for.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from connect_helpers import connect
from management_helpers import Api


@pytest.fixture(autouse=True)
def _no_webhooks(poll_stack):
    poll_stack.qbo_emulator.set_webhooks(auto=False)
    yield
    poll_stack.qbo_emulator.set_webhooks(auto=True)


def _connected(stack, poll, tenant_id: str, wait) -> str:
    """A new company, connected; the backfill the OAuth callback enqueued has run."""
    realm = connect(stack, tenant_id)
    wait(lambda: poll.sync_state(tenant_id, realm).watermark, timeout=60, message="the backfill on connect")
    return realm


def _connections(stack):  # noqa: ANN202
    from qbsync.repositories.connections import ConnectionsRepository

    return ConnectionsRepository(table_name=stack.deployed.physical_ids["ConnectionsTable"])


def _poll_lags(text: str) -> list[float]:
    lags = []
    for line in text.splitlines():
        if '"PollLagSeconds"' in line and line.startswith("{"):
            value = json.loads(line)["PollLagSeconds"]
            lags.extend(value if isinstance(value, list) else [value])
    return lags


def test_the_status_counts_polls_and_what_they_wrote_and_the_lag_is_a_metric(poll_stack, poll, tenant_id, wait,
                                                                            capsys):
    emu, api = poll_stack.qbo_emulator, Api(poll_stack)
    # Given a connected company (its backfill sends the 2 items the company starts with)
    realm = _connected(poll_stack, poll, tenant_id, wait)
    # When a QBO user adds 3 customers and the company is polled (5 minutes of QBO time later)...
    customers = [emu.user_create(realm, "Customer", {"DisplayName": f"Status {n}"}) for n in range(3)]
    emu.clock.advance(300)
    capsys.readouterr()
    poll.poll_now(tenant_id, realm)
    # ...then one of them is saved without a change the CRM sees, and the company is polled again
    emu.user_update(realm, "Customer", {"Id": customers[0]["Id"], "Notes": "no visible change"})
    state = poll.poll_now(tenant_id, realm)

    # Then the status counts 3 poll jobs and, per object, what reached the CRM and what was left alone:
    # the 3 contacts once each, the re-saved one skipped as unchanged; the 2 items of the backfill, skipped
    # as unchanged when the first CDC poll read them again (its window starts before the backfill's)
    body = api.get(f"/tenants/{tenant_id}/status").json()
    counts = body["counts"]
    assert (counts["poll_jobs"]["synced"], counts["poll_jobs"]["skipped"], counts["poll_jobs"]["failed"]) \
        == (3, 0, 0)
    assert counts["contacts"] | {"last_at": None} == {
        "synced": 3, "skipped": 1, "failed": 0, "skipped_by_reason": {"unchanged": 1}, "failed_by_reason": {},
        "last_at": None}
    assert counts["products"] | {"last_at": None} == {
        "synced": 2, "skipped": 2, "failed": 0, "skipped_by_reason": {"unchanged": 2}, "failed_by_reason": {},
        "last_at": None}
    # ...the last successful poll is the one that ran last, and the lag is from its watermark
    (connection,) = body["connections"]
    assert datetime.fromisoformat(connection["last_successful_poll"]) == state.last_success_at
    assert datetime.fromisoformat(connection["watermark"]) == state.watermark
    assert connection["lag_seconds"] is not None and connection["lag_seconds"] >= 0
    # ...and every poll that moved the watermark emitted the PollLagSeconds metric
    lags = _poll_lags(capsys.readouterr().out)
    assert len(lags) >= 2 and all(lag >= 0 for lag in lags)


def test_a_poll_job_that_dead_letters_is_counted_and_listed_with_its_reason(poll_stack, poll, tenant_id, wait):
    api = Api(poll_stack)
    _connected(poll_stack, poll, tenant_id, wait)
    # When a poll job the worker cannot read reaches the poll queue (e.g. from a newer producer)
    poll_stack.aws_client("sqs").send_message(
        QueueUrl=poll_stack.queue_url("PollJobsQueue"), MessageBody=json.dumps({"tenant_id": tenant_id}),
        MessageGroupId=tenant_id, MessageDeduplicationId=str(uuid.uuid4()),
        MessageAttributes={"tenant_id": {"DataType": "String", "StringValue": tenant_id},
                           "kind": {"DataType": "String", "StringValue": "poll_job"}})

    # Then it is dead-lettered at once (a permanent error), counted as a failed poll job with its reason...
    def failed():  # noqa: ANN202
        jobs = api.get(f"/tenants/{tenant_id}/status").json()["counts"].get("poll_jobs", {})
        return jobs if jobs.get("failed") else None

    jobs = wait(failed, timeout=30, message="the failed poll job in the status")
    assert jobs["failed"] == 1 and jobs["failed_by_reason"] == {"malformed_message": 1}
    # ...and listed among the tenant's latest failures with that reason
    failures = api.get(f"/tenants/{tenant_id}/status").json()["failures"]
    assert failures["in_dead_letter_queues"] == 1
    (failure,) = failures["latest"]
    assert failure["queue"] == "poll_jobs" and failure["type"] == "poll_job"
    assert failure["reason"]["code"] == "malformed_message"


def test_the_daily_check_warns_of_a_coming_expiry_without_any_token_refresh(poll_stack, poll, tenant_id, wait):
    crm = poll_stack.crm_emulator
    realm = _connected(poll_stack, poll, tenant_id, wait)
    # Given the company's QuickBooks authorisation ends in 20 days (nothing warned at connect: it was years
    # then), and a fresh access token, so no refresh during the poll can be the one that warns
    connections = _connections(poll_stack)
    record = connections.get(tenant_id, realm)
    expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    record = connections.replace_tokens(
        tenant_id, realm, record.tokens.model_copy(update={"refresh_token_hard_expires_at": expiry}),
        expected_version=record.token_version, now=datetime.now(UTC))

    def warnings() -> list[dict]:
        return [u for u in crm.connection_updates(tenant_id) if u["status"] == "expiring"]

    assert warnings() == []

    # When the company is polled for the first time today (the schedule makes every company due for its
    # daily checks, whatever its frequency: tests/unit/poll/test_poll_due.py)
    poll.poll_now(tenant_id, realm)

    # Then the CRM hears of the expiry once, from the daily check: the tokens were not refreshed
    (warning,) = warnings()
    assert warning["realm_id"] == realm
    assert datetime.fromisoformat(warning["expires_at"].replace("Z", "+00:00")) == expiry
    assert connections.get(tenant_id, realm).token_version == record.token_version
    assert [m.split(":")[0] for m in connections.get(tenant_id, realm).expiry_warnings_sent] == ["30d"]
    # ...and a second poll the same day sends nothing more
    poll.poll_now(tenant_id, realm)
    assert len(warnings()) == 1
