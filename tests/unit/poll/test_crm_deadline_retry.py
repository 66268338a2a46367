"""A CRM wait the Lambda cannot afford fails the record as retryable instead of sleeping into the timeout."""

from __future__ import annotations

from qbsync.clients.crm.errors import CrmRejectedError, CrmServerError, CrmThrottledError
from qbsync.sync.poll.crm_retry import DeadlineRetryPolicy


def test_a_retry_after_that_fits_in_the_time_left_is_waited_out():
    policy = DeadlineRetryPolicy(max_retry_after=600, remaining_seconds=lambda: 100.0)
    assert policy.should_retry(CrmThrottledError("429", status=429, retry_after=30), 0)
    assert policy.sleep_seconds(CrmThrottledError("429", status=429, retry_after=30), 0) == 30


def test_a_retry_after_longer_than_the_time_left_is_not():
    policy = DeadlineRetryPolicy(max_retry_after=600, remaining_seconds=lambda: 100.0)
    error = CrmThrottledError("429", status=429, retry_after=95)  # 95 s + the reserve > 100 s left
    assert not policy.should_retry(error, 0)
    assert error.retryable  # so the poll job's record fails and SQS redelivers it later


def test_server_errors_back_off_while_time_is_left_and_4xx_never_retry():
    policy = DeadlineRetryPolicy(remaining_seconds=lambda: 100.0)
    assert policy.should_retry(CrmServerError("503", status=503), 0)
    short_of_time = DeadlineRetryPolicy(remaining_seconds=lambda: 5.0)
    assert not short_of_time.should_retry(CrmServerError("503", status=503), 0)
    assert not policy.should_retry(CrmRejectedError("422", status=422), 0)
