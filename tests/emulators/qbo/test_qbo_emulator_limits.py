"""Throttling (per-minute and in-flight 429s with the XML body), injected 500s, dropped answers, latency."""

from __future__ import annotations

import threading
import time

import pytest
import requests


def preferences(qbo):
    return qbo.request("GET", "/preferences")


def assert_throttled(response):
    assert response.status_code == 429
    assert response.headers["Content-Type"].startswith("application/xml")
    assert '<Error code="3001">' in response.text
    assert "message=ThrottleExceeded; errorCode=003001; statusCode=429" in response.text
    assert response.headers["intuit_tid"]


def test_past_the_per_minute_limit_answers_429_xml_per_realm(emu, qbo, connect):
    emu.set_faults(rate_limit_per_minute=5)
    assert [preferences(qbo).status_code for _ in range(5)] == [200] * 5
    assert_throttled(preferences(qbo))
    other = connect(emu.create_company(country="US"))
    assert preferences(other).status_code == 200  # the limit is per company
    emu.clock.advance(61)  # a rolling minute on the emulator clock
    assert preferences(qbo).status_code == 200
    counters = emu.counters()
    assert counters["throttled_429"] == 1 and counters["statuses"]["429"] == 1


def test_time_scale_shrinks_the_window(emu, qbo):
    emu.set_faults(rate_limit_per_minute=3, time_scale=60)  # a one-second "minute"
    assert [preferences(qbo).status_code for _ in range(4)] == [200, 200, 200, 429]
    emu.clock.advance(1.01)
    assert preferences(qbo).status_code == 200


def test_more_than_max_in_flight_concurrent_requests_get_429(emu, qbo):
    emu.set_faults(max_in_flight=3, latency_ms=600)  # long enough that all 8 overlap
    start = threading.Barrier(8)
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        session = requests.Session()
        start.wait()
        response = session.get(f"{qbo.base}/preferences", headers=qbo.headers(), timeout=10)
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 3 + [429] * 5
    assert emu.counters()["max_in_flight_seen"][qbo.realm_id] == 3
    emu.set_faults(latency_ms=0)
    assert preferences(qbo).status_code == 200  # every slot was released


def test_random_429_knob(emu, qbo):
    emu.set_faults(error_rate_429=1.0)
    assert_throttled(preferences(qbo))


def test_injected_500_is_a_system_fault_and_does_not_commit(emu, qbo, realm, fault):
    emu.set_faults(error_rate_500=1.0)
    response = qbo.post("customer", {"DisplayName": "Never stored"})
    assert response.status_code == 500
    error = fault(response)
    assert error["code"] == "10000" and qbo.body(response)["Fault"]["type"] == "SystemFault"
    assert emu.entities(realm, "Customer") == []
    assert emu.counters()["injected_500"] == 1


def test_dropped_answer_commits_the_write_and_requestid_retry_returns_it(emu, qbo, realm):
    emu.set_faults(drop_answer_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        qbo.post("customer", {"DisplayName": "Lost Answer"}, requestid="lost-answer-1")
    assert [c["DisplayName"] for c in emu.entities(realm, "Customer")] == ["Lost Answer"]
    assert preferences(qbo).status_code == 200  # reads are never dropped
    emu.set_faults(drop_answer_rate=0.0)
    retried = qbo.ok(
        qbo.post("customer", {"DisplayName": "Lost Answer"}, requestid="lost-answer-1"), "Customer"
    )
    assert retried["DisplayName"] == "Lost Answer"
    assert len(emu.entities(realm, "Customer")) == 1
    assert emu.counters()["dropped_answers"] == 1


def test_drop_mode_502(emu, qbo, realm):
    emu.set_faults(drop_answer_rate=1.0, drop_mode="502")
    response = qbo.post("customer", {"DisplayName": "Bad Gateway"})
    assert response.status_code == 502
    assert len(emu.entities(realm, "Customer")) == 1


def test_latency_is_added(emu, qbo):
    emu.set_faults(latency_ms=150)
    began = time.monotonic()
    preferences(qbo)
    assert time.monotonic() - began >= 0.15
