"""The CRM client's retry policy and error mapping, and how the client applies them (a fake session: no
sockets)."""

import base64
import json
import random
from email.utils import format_datetime
from datetime import datetime, timezone

import pytest
import requests

from qbsync.clients.crm import (
    CrmAuthenticationError,
    CrmClient,
    CrmConflictError,
    CrmConnectionError,
    CrmInvalidAnswerError,
    CrmRejectedError,
    CrmServerError,
    CrmThrottledError,
    RetryPolicy,
)
from qbsync.clients.crm.errors import error_from_response, error_from_transport
from qbsync.utils.retry_after import parse_retry_after
from qbsync.errors import RetryableError, UpstreamError
from qbsync.models.crm_api import ConnectionUpdate, ReviewRequest
from qbsync.signatures.standard_webhooks import verify

NOW = 1_800_000_000.0
SECRET = "whsec_" + base64.b64encode(b"unit-test-outbound-secret-32byte").decode()


def response(status: int, body: object = None, headers: dict | None = None) -> requests.Response:
    built = requests.Response()
    built.status_code = status
    built._content = (json.dumps(body) if body is not None else "").encode()
    built.headers.update(headers or {})
    return built


# --- Retry-After -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("soon", None), ("-5", None), ("1.5", None),
    ("0", 0.0), ("7", 7.0), (" 30 ", 30.0),
    (format_datetime(datetime.fromtimestamp(NOW + 42, timezone.utc), usegmt=True), 42.0),
    (format_datetime(datetime.fromtimestamp(NOW - 42, timezone.utc), usegmt=True), 0.0),
])
def test_retry_after_is_seconds_or_an_http_date(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


# --- should_retry / sleep_seconds ------------------------------------------------------------------------


def throttled(retry_after=None):
    return CrmThrottledError("throttled", status=429, retry_after=retry_after)


@pytest.mark.parametrize("error", [
    throttled(), CrmServerError("boom", status=503), CrmConnectionError("down"),
])
def test_retryable_errors_are_retried_until_max_retries(error):
    policy = RetryPolicy(max_retries=4)
    assert [policy.should_retry(error, attempt) for attempt in range(6)] == [True] * 4 + [False] * 2


@pytest.mark.parametrize("error", [
    CrmRejectedError("bad", status=422), CrmConflictError("dup", status=409),
    CrmAuthenticationError("who", status=401), CrmInvalidAnswerError("odd", status=200), ValueError("bug"),
])
def test_permanent_errors_are_never_retried(error):
    assert RetryPolicy().should_retry(error, 0) is False


def test_a_retry_after_longer_than_the_cap_is_left_to_the_queue():
    policy = RetryPolicy(max_retry_after=60)
    assert policy.should_retry(throttled(retry_after=60), 0) is True
    assert policy.should_retry(throttled(retry_after=61), 0) is False


def test_retry_after_is_honoured_exactly():
    assert RetryPolicy().sleep_seconds(throttled(retry_after=7), 0) == 7.0
    assert RetryPolicy().sleep_seconds(throttled(retry_after=0), 3) == 0.0


def test_backoff_is_exponential_jittered_and_capped():
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0, random=random.Random(1))
    error = CrmServerError("boom", status=503)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (12, 8.0)]:
        waits = [policy.sleep_seconds(error, attempt) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert len(set(waits)) > 100  # jittered, not a constant


# --- error mapping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, error_class, retryable", [
    (429, CrmThrottledError, True),
    (500, CrmServerError, True), (502, CrmServerError, True), (503, CrmServerError, True),
    (400, CrmRejectedError, False), (404, CrmRejectedError, False), (422, CrmRejectedError, False),
    (401, CrmAuthenticationError, False), (403, CrmAuthenticationError, False),
    (409, CrmConflictError, False), (302, CrmRejectedError, False),
])
def test_every_status_maps_to_one_class(status, error_class, retryable):
    error = error_from_response(response(status, {"error": {"code": "x", "message": "y"}}), now=NOW,
                                operation="POST /tenants/{t}/review-requests")
    assert type(error) is error_class
    assert error.retryable is retryable and isinstance(error, RetryableError) is retryable
    assert isinstance(error, UpstreamError) and error.status == status


def test_the_error_carries_the_crm_code_message_request_id_and_retry_after():
    answer = response(429, {"error": {"code": "rate_limited", "message": "slow down"}},
                      {"Retry-After": "12", "X-Request-Id": "req_77"})
    error = error_from_response(answer, now=NOW, operation="PUT /tenants/{t}/connection")
    assert error.retry_after == 12.0 and error.request_id == "req_77"
    assert error.details == {
        "status": 429, "operation": "PUT /tenants/{t}/connection", "crm_code": "rate_limited",
        "crm_message": "slow down", "crm_request_id": "req_77", "retry_after_seconds": 12.0,
    }
    assert "rate_limited" in str(error)


def test_a_non_json_error_body_is_kept_but_not_in_the_message():
    answer = requests.Response()
    answer.status_code, answer._content = 502, b"<html>bad gateway: customer jane@example.com</html>"
    error = error_from_response(answer, now=NOW, operation="op")
    assert "jane@example.com" in error.body
    assert "jane@example.com" not in str(error) and "jane@example.com" not in json.dumps(error.to_body())


def test_transport_failures_are_retryable_and_do_not_echo_the_exception_text():
    error = error_from_transport(requests.ConnectionError("http://crm/?token=abc refused"), operation="op")
    assert isinstance(error, CrmConnectionError) and error.retryable
    assert "token=abc" not in str(error)


# --- the client applies the policy (fake session) ---------------------------------------------------------


class FakeSession:
    """Answers from a script and records what the client sent."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, *, data, headers, timeout, allow_redirects):
        self.sent.append({"method": method, "url": url, "body": data, "headers": dict(headers),
                          "timeout": timeout, "allow_redirects": allow_redirects})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        pass


def client(session, sleeps, **options):
    clock = iter(range(int(NOW), int(NOW) + 1000, 10))  # every reading is 10 s later
    return CrmClient("https://crm.example.com/api/", SECRET, session=session, sleep=sleeps.append,
                     clock=lambda: float(next(clock)), **options)


REVIEW = ReviewRequest(realm_id="r1", qbo_customer_id="58", qbo_invoice_id="130", qbo_payment_id="131",
                       paid_at="2026-11-23T10:00:00Z")


def test_retries_keep_key_and_body_but_re_sign_with_a_fresh_id_and_timestamp():
    session = FakeSession(response(503), response(429, headers={"Retry-After": "3"}),
                          requests.ConnectionError("reset"), response(201, {"id": "rr_1"}))
    sleeps = []
    answer = client(session, sleeps, retry_policy=RetryPolicy(random=random.Random(0))).create_review_request(
        "loc/1", REVIEW, idempotency_key="review:loc/1:r1:58")
    assert answer.id == "rr_1"
    assert len(session.sent) == 4 and len(sleeps) == 3 and sleeps[1] == 3.0
    expected_url = "https://crm.example.com/api/tenants/loc%2F1/review-requests"  # "/" in an id is encoded
    assert {sent["url"] for sent in session.sent} == {expected_url}
    assert {sent["headers"]["Idempotency-Key"] for sent in session.sent} == {"review:loc/1:r1:58"}
    assert len({sent["body"] for sent in session.sent}) == 1
    assert len({sent["headers"]["webhook-id"] for sent in session.sent}) == 4
    timestamps = [int(sent["headers"]["webhook-timestamp"]) for sent in session.sent]
    assert timestamps == sorted(set(timestamps))
    for sent in session.sent:
        verify([SECRET], sent["headers"], sent["body"], now=int(sent["headers"]["webhook-timestamp"]))
        assert sent["timeout"] == (3.05, 10) and sent["allow_redirects"] is False


def test_money_and_dates_go_on_the_wire_as_strings():
    session = FakeSession(response(200, {}))
    update = ConnectionUpdate(status="expiring", realm_id="r1", expires_at="2026-12-01T00:00:00Z")
    client(session, []).put_connection("loc_1", update, idempotency_key="k")
    assert json.loads(session.sent[0]["body"]) == {
        "status": "expiring", "realm_id": "r1", "company_name": None, "reason": None,
        "expires_at": "2026-12-01T00:00:00Z",
    }


def test_a_permanent_error_is_raised_at_once():
    refusal = {"error": {"code": "validation_failed", "message": "contacts: too many"}}
    session = FakeSession(response(422, refusal))
    sleeps = []
    with pytest.raises(CrmRejectedError) as caught:
        client(session, sleeps).create_review_request("loc_1", REVIEW, idempotency_key="k")
    assert caught.value.status == 422 and caught.value.details["crm_code"] == "validation_failed"
    assert len(session.sent) == 1 and sleeps == []


def test_retries_stop_after_max_retries():
    session = FakeSession(*[response(500) for _ in range(3)])
    sleeps = []
    with pytest.raises(CrmServerError):
        client(session, sleeps, max_retries=2).create_review_request("loc_1", REVIEW, idempotency_key="k")
    assert len(session.sent) == 3 and len(sleeps) == 2


def test_an_answer_that_breaks_the_contract_is_a_permanent_error():
    session = FakeSession(response(201, {"identifier": "rr_1"}))
    with pytest.raises(CrmInvalidAnswerError):
        client(session, []).create_review_request("loc_1", REVIEW, idempotency_key="k")


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "line\nbreak"])
def test_the_idempotency_key_must_be_a_sane_header_value(key):
    with pytest.raises(ValueError):
        client(FakeSession(), []).create_review_request("loc_1", REVIEW, idempotency_key=key)


def test_a_malformed_outbound_secret_fails_at_construction_and_repr_hides_the_secret():
    with pytest.raises(Exception) as caught:
        CrmClient("https://crm.example.com", "plain-secret")
    assert "plain-secret" not in str(caught.value)
    assert SECRET not in repr(CrmClient("https://crm.example.com", SECRET, session=FakeSession()))


@pytest.mark.parametrize("failure", [requests.ConnectTimeout("slow"), requests.ReadTimeout("slow"),
                                     requests.exceptions.ChunkedEncodingError("cut")])
def test_timeouts_and_cut_answers_are_retryable(failure):
    assert error_from_transport(failure, operation="op").retryable is True


def test_a_request_that_cannot_be_made_is_not_retried():
    error = error_from_transport(requests.exceptions.MissingSchema("crm.example.com"), operation="op")
    assert error.retryable is False and error.code == "crm_request_failed"
    assert RetryPolicy().should_retry(error, 0) is False


@pytest.mark.parametrize("bad_id", [".", "..", ""])
def test_dot_segments_and_empty_ids_are_refused_before_any_request(bad_id):
    # "." and ".." pass percent-encoding untouched and would be normalised into another route.
    session = FakeSession(response(200, {}))
    with pytest.raises(ValueError):
        client(session, []).put_connection(bad_id, ConnectionUpdate(status="connected", realm_id="r1"),
                                           idempotency_key="k")
    assert session.sent == []


def test_ids_that_merely_contain_dots_are_sent_encoded_as_one_segment():
    session = FakeSession(response(200, {}), response(200, {}))
    client(session, []).put_connection("...", ConnectionUpdate(status="connected", realm_id="r1"),
                                       idempotency_key="k")
    client(session, []).put_connection("../x", ConnectionUpdate(status="connected", realm_id="r1"),
                                       idempotency_key="k")
    assert [sent["url"] for sent in session.sent] == ["https://crm.example.com/api/tenants/.../connection",
                                                      "https://crm.example.com/api/tenants/..%2Fx/connection"]
