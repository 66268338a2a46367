"""The one polling helper the demo, the benchmarks and the tests share."""

from __future__ import annotations

import itertools

import pytest
from qbsync_local.waiting import wait_until


def test_returns_the_first_truthy_value_the_condition_gives():
    answers = iter([None, 0, "", "ready", "later"])

    assert wait_until(lambda: next(answers), timeout=5, interval=0) == "ready"
    assert next(answers) == "later"  # not asked again once it answered


def test_raises_the_callers_error_naming_what_it_waited_for():
    asked = itertools.count()

    with pytest.raises(SystemExit, match="waiting for the contact"):
        wait_until(lambda: next(asked) and False, timeout=0.05, interval=0.01, message="the contact",
                   error=SystemExit)
    assert next(asked) > 1  # it kept asking until the time ran out
