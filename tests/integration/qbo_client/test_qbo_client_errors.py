"""Every error class of `qbsync.clients.qbo`, reached over real HTTP against the QBO emulator.

Each test provokes the failure the way QBO produces it (an expired token, a stale SyncToken, a rate limit
hit...), never by handcrafting a body, and checks the class, QBO's code and status, whether the client
retried (and how long it chose to wait), and that Intuit's `intuit_tid` came along (QBO.md §2.1, §6).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from qbsync.clients.qbo import (
    QboAuthError,
    QboDuplicateDocNumberError,
    QboDuplicateNameError,
    QboError,
    QboInvalidGrantError,
    QboNotFoundError,
    QboQueryError,
    QboServerError,
    QboStaleObjectError,
    QboThrottledError,
    QboValidationError,
    RetryPolicy,
    TokenSet,
)
from qbsync.errors import RetryableError

TID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")  # the shape the emulator (like Intuit) hands out


def assert_permanent(error: QboError, emu) -> None:
    """Not retryable, and the client sent exactly one request for it."""
    assert error.retryable is False and not isinstance(error, RetryableError)
    assert emu.counters()["total"] == 1
    assert TID.match(error.intuit_tid or ""), error.intuit_tid


def invoice_body(customer_id: str, **fields) -> dict:
    return {
        "CustomerRef": {"value": customer_id},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("120.00"),
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 2, "UnitPrice": Decimal("60.00")},
            }
        ],
        **fields,
    }


# ---------------------------------------------------------------------------------------------- auth


def test_expired_access_token_is_an_auth_error_from_the_gateways_lower_case_401(emu, qbo, sleeps):
    # Given an access token that expired at Intuit (an hour passed there) while we still think it valid
    emu.clock.advance(3601)
    emu.reset_counters()
    # When we call QBO
    with pytest.raises(QboAuthError) as raised:
        qbo.company_info()
    # Then the gateway's lower-case {"fault": {"error": [...]}} 401 is an auth error, not retried
    error = raised.value
    assert not isinstance(error, QboInvalidGrantError)
    assert error.upstream_status == 401
    assert error.qbo_code == "3200"
    assert error.fault_type == "AUTHENTICATION"
    assert "AuthenticationFailed" in error.entries[0].message
    assert sleeps.waits == []
    assert_permanent(error, emu)
    assert emu.counters()["statuses"] == {"401": 1}


def test_access_token_known_to_be_expired_is_an_auth_error_without_a_call(emu, make_client, realm,
                                                                          token_answer):
    # Tokens stored two hours ago: the session knows the access token is dead and does not send it
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    stale = TokenSet.from_token_response(token_answer(realm), received_at=two_hours_ago)
    client = make_client(realm, tokens=stale)
    emu.reset_counters()
    with pytest.raises(QboAuthError) as raised:
        client.company_info()
    assert raised.value.retryable is False
    assert emu.counters()["total"] == 0


def test_token_of_another_company_is_an_auth_error_3100_403(emu, make_client, issue_tokens, realm, sleeps):
    # Given tokens granted for another company
    other_realm = emu.create_company(country="US", name="Someone Else Ltd")
    stranger = make_client(realm, tokens=issue_tokens(other_realm))
    emu.reset_counters()
    # When they are used on ours
    with pytest.raises(QboAuthError) as raised:
        stranger.read("Customer", "1")
    # Then QBO's 403 ApplicationAuthorizationFailed (3100) is an auth error too
    error = raised.value
    assert error.upstream_status == 403
    assert error.qbo_code == "3100"
    assert "ApplicationAuthorizationFailed" in error.entries[0].message
    assert sleeps.waits == []
    assert_permanent(error, emu)


# ----------------------------------------------------------------------------------------- throttled


def test_past_the_limit_the_xml_429_is_retried_after_60_s_each_time_then_raised(emu, qbo, sleeps):
    # Given a company that has used its whole per-minute budget
    emu.set_faults(rate_limit_per_minute=3)
    for _ in range(3):
        qbo.company_info()
    # When the next call is throttled every time (the waits are recorded, so the minute never passes)
    with pytest.raises(QboThrottledError) as raised:
        qbo.company_info()
    # Then each retry waited the 60 s Intuit asks for (no Retry-After is sent), and gave up after two
    error = raised.value
    assert sleeps.waits == [60.0, 60.0]
    assert error.retryable is True and isinstance(error, RetryableError)
    assert error.upstream_status == 429
    assert error.qbo_code == "3001"  # read from the XML body, although JSON was asked for
    assert error.fault_type == "SERVICE"
    assert error.retry_after is None
    assert TID.match(error.intuit_tid or "")
    counters = emu.counters()
    assert counters["throttled_429"] == 3 and counters["statuses"] == {"200": 3, "429": 3}


def test_a_throttled_call_succeeds_once_the_wait_has_let_the_minute_roll_over(emu, qbo, sleeps):
    # Given a company at its per-minute limit, and a client whose waits pass on the emulator's clock
    emu.set_faults(rate_limit_per_minute=2)
    qbo.company_info()
    qbo.company_info()
    sleeps.then = emu.clock.advance
    # When the client is throttled
    info = qbo.company_info()
    # Then one 60 s wait was enough: the rolling minute had moved on
    assert info["CompanyName"] == "Client Tests Inc"
    assert sleeps.waits == [60.0]
    assert emu.counters()["throttled_429"] == 1


def test_a_throttle_wait_longer_than_the_policy_allows_is_raised_at_once(emu, make_client, realm, sleeps):
    # A Lambda must not sleep a minute in-process: the queue redelivers later instead
    impatient = make_client(realm, retry_policy=RetryPolicy(max_retries=5, max_sleep_seconds=10))
    emu.set_faults(error_rate_429=1.0)
    with pytest.raises(QboThrottledError) as raised:
        impatient.company_info()
    assert sleeps.waits == []
    assert emu.counters()["throttled_429"] == 1
    assert raised.value.retryable is True
    assert TID.match(raised.value.intuit_tid or "")


# -------------------------------------------------------------------------------- business errors


def test_stale_sync_token_is_5010(emu, qbo, realm, sleeps):
    customer = qbo.create("Customer", {"DisplayName": "Stale Co"}, request_key=("t1", "ev1", "create"))
    qbo.sparse_update("Customer", customer["Id"], customer["SyncToken"], {"Notes": "first"},
                      request_key=("t1", "ev2", "update"))
    emu.reset_counters()
    # When a second writer still holds the SyncToken the first one used
    with pytest.raises(QboStaleObjectError) as raised:
        qbo.sparse_update("Customer", customer["Id"], customer["SyncToken"], {"Notes": "second"},
                          request_key=("t1", "ev3", "update"))
    error = raised.value
    assert error.qbo_code == "5010" and error.upstream_status == 400
    assert "Stale Object Error" in error.entries[0].message
    assert_permanent(error, emu)
    assert sleeps.waits == []
    assert emu.entity(realm, "Customer", customer["Id"])["Notes"] == "first"


def test_duplicate_display_name_is_6240_carrying_the_existing_id(emu, qbo, realm):
    first = qbo.create("Customer", {"DisplayName": "Acme Widgets"}, request_key=("t1", "crm-c-1", "create"))
    emu.reset_counters()
    # QBO compares names case-insensitively, across customers and vendors
    with pytest.raises(QboDuplicateNameError) as raised:
        qbo.create("Customer", {"DisplayName": "acme widgets"}, request_key=("t1", "crm-c-2", "create"))
    error = raised.value
    assert error.qbo_code == "6240"
    assert error.existing_id == first["Id"]
    assert f"Id={first['Id']}" in error.qbo_detail
    assert_permanent(error, emu)
    assert len(emu.entities(realm, "Customer")) == 1


def test_duplicate_doc_number_is_6140_unless_duplicates_are_allowed(emu, qbo, realm):
    customer = qbo.create("Customer", {"DisplayName": "Docs Inc"}, request_key=("t1", "c", "create"))
    qbo.create("Invoice", invoice_body(customer["Id"], DocNumber="INV-0001"),
               request_key=("t1", "i1", "create"))
    emu.reset_counters()
    with pytest.raises(QboDuplicateDocNumberError) as raised:
        qbo.create("Invoice", invoice_body(customer["Id"], DocNumber="INV-0001"),
                   request_key=("t1", "i2", "create"))
    error = raised.value
    assert error.qbo_code == "6140"
    assert "DocNumber=INV-0001" in error.qbo_detail
    assert_permanent(error, emu)
    # include=allowduplicatedocnum lets the same number through (QBO.md §2.1)
    again = qbo.create("Invoice", invoice_body(customer["Id"], DocNumber="INV-0001"),
                       request_key=("t1", "i2", "create"), allow_duplicate_doc_number=True)
    assert again["DocNumber"] == "INV-0001"
    assert len(emu.entities(realm, "Invoice")) == 2


def test_unknown_id_is_not_found_610(emu, qbo):
    emu.reset_counters()
    with pytest.raises(QboNotFoundError) as raised:
        qbo.read("Customer", "987654")
    error = raised.value
    assert error.qbo_code == "610" and error.upstream_status == 400
    assert_permanent(error, emu)


def validation_case(qbo, case: str, customer_id: str):
    """The request of each validation case; `customer_id` is a real customer, so only one thing is wrong."""
    line = invoice_body(customer_id)["Line"][0]
    if case == "unknown property":
        return qbo.create("Customer", {"DisplayName": "Nick", "Nickname": "n"}, request_key=("t", "e", "1"))
    if case == "required field missing":
        return qbo.create("Invoice", {"Line": [line]}, request_key=("t", "e", "2"))
    if case == "query syntax":
        return qbo.query("SELECT * FROM Customer WHERE")
    if case == "property not queryable":
        return qbo.count("Customer", conditions=[("Notes", "=", "vip")])
    if case == "business rule":
        return qbo.create("Customer", {"DisplayName": "Parent: Child"}, request_key=("t", "e", "3"))
    if case == "line amount":
        wrong = {**line, "Amount": Decimal("100.00")}  # 2 x 60.00 is 120.00
        return qbo.create("Invoice", {"CustomerRef": {"value": customer_id}, "Line": [wrong]},
                          request_key=("t", "e", "4"))
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "error_class", "code", "detail"),
    [
        ("unknown property", QboValidationError, "2010", 'Unrecognized field "Nickname"'),
        ("required field missing", QboValidationError, "2020", "CustomerRef"),
        ("query syntax", QboQueryError, "4000", "QueryParserError"),
        ("property not queryable", QboQueryError, "4001", "QueryValidationError"),
        ("business rule", QboValidationError, "6000", "DisplayName cannot contain a colon"),
        ("line amount", QboValidationError, "6000", "Amount is not equal to UnitPrice * Qty"),
    ],
)
def test_validation_errors_carry_qbos_code_and_detail(emu, qbo, sleeps, case, error_class, code, detail):
    customer = qbo.create("Customer", {"DisplayName": "Valid Customer"}, request_key=("t", "e", "0"))
    emu.reset_counters()
    with pytest.raises(error_class) as raised:
        validation_case(qbo, case, customer["Id"])
    error = raised.value
    assert type(error) is error_class
    assert error.qbo_code == code and error.upstream_status == 400
    assert detail in error.qbo_detail
    assert detail in str(error)  # QBO's Detail is what says what is wrong: it is in the message
    assert sleeps.waits == []
    assert_permanent(error, emu)


# ---------------------------------------------------------------------------------------- server


def test_random_500s_are_retried_until_they_succeed_without_duplicating_writes(emu, make_client, realm,
                                                                               sleeps):
    # QBO's advice is one retry of a 500 (the default); a client patient with 500s shows no retry duplicates
    patient = make_client(realm, retry_policy=RetryPolicy(max_retries=10, internal_error_retries=10))
    emu.set_faults(error_rate_500=0.5, seed=20261123)
    created = [
        patient.create("Customer", {"DisplayName": f"Flaky {n}"}, request_key=("t1", f"crm-{n}", "create"))
        for n in range(12)
    ]
    counters = emu.counters()
    assert counters["injected_500"] >= 3  # the faults really happened...
    assert len(sleeps.waits) == counters["injected_500"]  # ...each one was retried after a backoff
    assert all(0 < wait <= 8.0 for wait in sleeps.waits)
    assert sorted(c["DisplayName"] for c in emu.entities(realm, "Customer")) == sorted(
        c["DisplayName"] for c in created
    )


def test_a_500_every_time_is_a_server_error_after_one_retry(emu, make_client, realm, sleeps, caplog):
    client = make_client(realm, max_retries=2)
    emu.set_faults(error_rate_500=1.0)
    caplog.set_level(logging.WARNING)
    with pytest.raises(QboServerError) as raised:
        client.create("Customer", {"DisplayName": "Never"}, request_key=("t1", "e1", "create"))
    error = raised.value
    assert error.retryable is True
    assert error.upstream_status == 500
    assert error.qbo_code == "10000" and error.fault_type == "SystemFault"
    assert TID.match(error.intuit_tid or "")
    # 1 try + 1 retry (QBO.md §6: "500 (retry once)"), after a backoff of 0.5 s jittered down to at most half
    assert emu.counters()["injected_500"] == 2
    assert len(sleeps.waits) == 1
    assert 0.25 <= sleeps.waits[0] <= 0.5
    assert emu.entities(realm, "Customer") == []
    # Each failed attempt was logged with its own intuit_tid, the last one being the error's
    failed = [r for r in caplog.records if r.getMessage() == "qbo call failed"]
    tids = [getattr(r, "intuit_tid", None) for r in failed]
    assert len(tids) == 2 and len(set(tids)) == 2 and all(TID.match(t or "") for t in tids)
    assert tids[-1] == error.intuit_tid
