"""The chaos run, reduced (issue 8 §2): 200 CRM events for 10 tenants through the local stack with QBO and
CRM faults on, duplicated deliveries, a token expiry half-way and two kinds of planted permanent errors;
`make chaos` runs the full 1,000 events for 20 tenants (bench/chaos.py, bench/README.md).

One run (module fixture, about 2-3 minutes on 2 cores); each test asserts one property of it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

pytestmark = pytest.mark.timeout(900)

@pytest.fixture(scope="module")
def chaos():
    from bench.chaos import print_summary, run

    summary = run(events=200, tenants=10, seed=20261123)  # fixed seed: the same plan every run
    print_summary(summary)  # shown by pytest when a test fails
    return summary


def test_nothing_is_duplicated_lost_or_a_cent_off_outside_the_planted_errors(chaos):
    result = chaos["reconcile_before_fix_without_planted"]
    assert result["duplicates"] == 0, result["problems"]
    assert result["missing"] == 0, result["problems"]
    assert result["wrong_amounts_or_status"] == 0, result["problems"]
    assert result["unexpected"] == 0, result["problems"]
    assert result["match_percent"] == 100.0
    totals = result["totals"]
    assert totals["qbo_total"] == totals["expected_total"] == totals["crm_total"]
    assert totals["qbo_balance"] == totals["expected_balance"] == totals["crm_balance"]


def test_the_dead_letter_queue_holds_only_planted_errors_each_with_its_reason(chaos):
    dlq = chaos["dead_letters_before_fix"]
    assert dlq["messages"] > 0
    assert dlq["unplanted_count"] == 0, dlq["unplanted"]
    assert dlq["wrong_reason_count"] == 0, dlq["wrong_reason"]
    # an invoice's events after its dead-lettered invoice.sent wait behind it (qbsync.sync.crm_events.holds)
    assert set(dlq["reasons"]) <= {"tax_code_unmapped", "needs_reauth", "invoice_sent_dead_lettered"}


def test_every_planted_event_is_on_the_dead_letter_queue(chaos):
    dlq = chaos["dead_letters_before_fix"]
    assert dlq["planted_not_dead_lettered_count"] == 0, dlq["planted_not_dead_lettered"]


def test_the_fix_and_redrive_duplicate_nothing_and_empty_the_dead_letter_queue(chaos):
    result = chaos["reconcile_after_redrive"]
    assert result["duplicates"] == 0, result["problems"]
    assert result["unexpected"] == 0, result["problems"]
    assert chaos["dead_letters_after_redrive"] == 0


def test_the_fix_and_redrive_bring_the_match_to_100_percent(chaos):
    result = chaos["reconcile_after_redrive"]
    assert result["match_percent"] == 100.0, result["problems"]


def test_every_kind_of_fault_was_injected(chaos):
    faults = chaos["faults_injected"]
    assert faults["qbo_http_500"] > 0 and faults["qbo_http_429"] > 0 and faults["qbo_commit_then_drop"] > 0
    assert faults["crm_503"] > 0
    assert faults["token_expiry"] is not None and faults["qbo_401_answers"] > 0
    assert sum(chaos["duplicate_deliveries"].values()) > 0
    assert chaos["ingest_answers"].get("200 duplicate", 0) > 0
