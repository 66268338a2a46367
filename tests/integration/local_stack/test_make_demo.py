"""`make demo` walks through the product end to end and exits cleanly with --exit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from qbsync_local.stack import free_port


def test_demo_runs_every_step_and_summarises(tmp_path):
    env = {**os.environ, "QBSYNC_API_PORT": str(free_port()), "QBSYNC_POLL_INTERVAL_SECONDS": "3600"}
    result = subprocess.run([sys.executable, "-m", "qbsync_local.demo", "--exit"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for number in range(1, 7):
        assert re.search(rf"^\S*{number}\. ", result.stdout, re.MULTILINE), f"step {number} missing"
    summary = json.loads(result.stdout.split("Summary")[1].split("\nThe stack keeps running")[0].split("\n", 1)[1])
    assert summary["invoice"]["status"] == "paid"
    assert summary["planted_failure"] == "needs_reauth"
    assert summary["after_reconnect"] == "open"
    assert summary["qbo_to_crm_seconds"] < 10
