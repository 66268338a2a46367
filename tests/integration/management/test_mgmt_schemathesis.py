"""Schemathesis against the local stack, from the API's own `GET /openapi.json`: generated requests to the
settings, status, sync, failures and redrive routes never get a 5xx, and every answer matches the
documented status codes, content types and schemas."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from connect_helpers import connect

from qbsync_local.config import DEFAULT_API_KEY

pytestmark = pytest.mark.tools

ST = Path(__file__).resolve().parents[3] / ".tools" / "schemathesis" / "bin" / "st"
TENANT = "loc_fuzz"


def test_generated_requests_get_documented_answers_and_never_a_5xx(full_stack, tmp_path):
    if not ST.exists():
        pytest.fail(f"{ST} is missing: run `make tools` (make test does it for you)")
    connect(full_stack, TENANT)
    full_stack.qbo_emulator.set_webhooks(False)
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.tenant_id" = "{TENANT}"\n')
    result = subprocess.run(
        [str(ST), "--config-file", str(config), "run", f"{full_stack.api.url}/openapi.json",
         "-H", f"Authorization: Bearer {DEFAULT_API_KEY}", "--include-path-regex", "settings|status|sync|failures",
         "--phases", "coverage,fuzzing", "--max-examples", "40", "--seed", "7", "--workers", "1",
         "--generation-database", "none",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance"],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)  # its cache stays out of the repo
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
