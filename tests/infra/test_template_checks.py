"""The template passes SAM's own validation, cfn-lint and checkov (every skip carries a written reason)."""

from __future__ import annotations

import json

import pytest

from qbsync_local.template import SamTemplate

pytestmark = pytest.mark.tools


def test_sam_validate_lint(tools):
    result = tools.run([tools.bin("sam", "sam"), "validate", "--lint", "--template-file", str(tools.template)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint(tools):
    result = tools.run([tools.bin("sam", "cfn-lint"), str(tools.template)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_has_no_failed_check(tools):
    result = tools.run([tools.bin("checkov", "checkov"), "--skip-download", "--quiet", "--output", "json",
                        "--framework", "cloudformation", "-f", str(tools.template)])
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] > 40  # the scan really ran over our resources


def test_every_checkov_skip_has_a_written_reason():
    for logical_id, resource in SamTemplate().resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "").split()) >= 5, (logical_id, skip["id"])
