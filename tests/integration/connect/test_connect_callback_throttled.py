"""The OAuth callback reads the company's facts from QBO while a browser waits (API Gateway gives up at 30 s):
a 429 is retried briefly instead of waited out for QBO's 60 s, and a QBO that keeps throttling gets a clear
"connect again" answer. The stack runs with the product's default throttle wait (60 s)."""

from __future__ import annotations

import pytest
from connect_helpers import connect_link, follow_to_callback

from qbsync_local.stack import LocalStack


@pytest.fixture(scope="module")
def stack():
    from qbsync_local.config import LocalConfig

    config = LocalConfig(api_port=0, retry_delay_seconds=0, poll_interval_seconds=3600,
                         return_url_allowlist="http://localhost:8080")  # no QboThrottleWaitSeconds: 60 s
    with LocalStack(config, start_schedules=False) as local:
        yield local


def company_info_reads(stack) -> int:
    return sum(n for name, n in stack.qbo_emulator.counters()["requests"].items() if "companyinfo" in name.lower())


def dance(stack, tenant_id, **faults):
    realm = stack.qbo_emulator.create_company(country="US")
    stack.qbo_emulator.set_consent(realm_id=realm)
    stack.qbo_emulator.reset_counters()
    stack.qbo_emulator.set_faults(**faults)
    try:
        # follow_to_callback gives the callback 20 s: a 60 s wait for a 429 would time the request out.
        return realm, follow_to_callback(stack, connect_link(stack.api.url, tenant_id))
    finally:
        stack.qbo_emulator.set_faults(error_rate_429=0)


def test_a_429_on_the_callback_is_retried_at_once_and_the_company_connects(stack):
    # seed 13: the first request is refused with a 429, the next ones are not
    realm, answer = dance(stack, "loc_cb_once", error_rate_429=0.5, seed=13)
    assert answer.status_code == 302, answer.text
    assert "status=connected" in answer.headers["Location"] and realm in answer.headers["Location"]
    counters = stack.qbo_emulator.counters()
    assert counters["throttled_429"] == 1
    assert company_info_reads(stack) == 2


def test_a_qbo_that_keeps_throttling_gets_a_connect_again_page_and_nothing_is_kept(stack):
    from qbsync.composition import connections_repository

    realm, answer = dance(stack, "loc_cb_busy", error_rate_429=1.0, seed=1)
    assert answer.status_code == 502
    assert "connect again in a minute" in answer.text
    assert company_info_reads(stack) == 3  # the first try and two short retries
    assert connections_repository().get("loc_cb_busy", realm) is None
    # once QBO is calm the customer's second attempt connects
    stack.qbo_emulator.set_consent(realm_id=realm)
    again = follow_to_callback(stack, connect_link(stack.api.url, "loc_cb_busy"))
    assert again.status_code == 302 and "status=connected" in again.headers["Location"]
