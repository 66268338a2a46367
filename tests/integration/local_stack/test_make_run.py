"""`make run` as a newcomer runs it: `python -m qbsync_local` in its own process, Ctrl-C to stop.

It must come up serving `/health`, print where everything runs (both emulators and every route of the
template), and on SIGINT stop cleanly: exit code 0, "stopping" said, and every port it held let go.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from qbsync_local.template import REPO_ROOT, SamTemplate

START_TIMEOUT = 60
STOP_TIMEOUT = 20
BANNER_END = "Ctrl-C stops everything."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def nothing_listens_on(port: int) -> bool:
    with socket.socket() as probe:
        # SO_REUSEADDR: connections our requests left in TIME_WAIT do not count, a listener does
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def clean_environment(api_port: int) -> dict[str, str]:
    """The developer's shell, minus anything an earlier in-process stack or a test may have exported."""
    leftovers = ("AWS_ENDPOINT_URL", "OAUTHLIB_INSECURE_TRANSPORT")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("QBSYNC_") and name not in leftovers}
    env.update(QBSYNC_API_PORT=str(api_port), QBSYNC_POLL_INTERVAL_SECONDS="3600", PYTHONUNBUFFERED="1")
    return env


def poll(condition, *, timeout: float, what: str, process: subprocess.Popen, output: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"`make run` exited with {process.returncode} before {what}:\n{output.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"no {what} within {timeout} s:\n{output.read_text()}")


def health_ok(url: str) -> bool:
    try:
        response = requests.get(f"{url}/health", timeout=5)
    except requests.ConnectionError:
        return False
    return response.status_code == 200 and response.json().get("status") == "ok"


def banner_row(banner: str, name: str) -> str:
    match = re.search(rf"^\s*{re.escape(name)}\s+(http://127\.0\.0\.1:\d+)\s*$", banner, re.MULTILINE)
    assert match, f"{name!r} missing from the banner:\n{banner}"
    return match.group(1)


def test_make_run_serves_health_prints_every_url_and_route_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "qbsync_local"], cwd=REPO_ROOT,
                                   env=clean_environment(port), stdout=out, stderr=err)
    api_url = f"http://127.0.0.1:{port}"
    try:
        # It comes up and /health says every table and queue is there
        poll(lambda: health_ok(api_url), timeout=START_TIMEOUT, what="/health answering ok",
             process=process, output=stderr)
        banner = poll(lambda: BANNER_END in stdout.read_text() and stdout.read_text(), timeout=10,
                      what="the banner", process=process, output=stdout)

        # The banner says where everything runs, and those URLs are live
        assert banner_row(banner, "qbsync HTTP API") == api_url
        banner_row(banner, "AWS (moto server)")
        emulators = {name: banner_row(banner, name) for name in ("QBO emulator", "CRM emulator")}
        for url in emulators.values():
            assert requests.get(f"{url}/_emulator/health", timeout=5).json()["ok"] is True
        # ...and lists every route of the template with the function serving it
        for function in SamTemplate().functions():
            for route in function.routes:
                row = rf"^\s*{re.escape(route.method)} {re.escape(route.path)}\s+{function.logical_id}\s*$"
                assert re.search(row, banner, re.MULTILINE), f"{route} missing:\n{banner}"

        # When Ctrl-C is pressed
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`make run` still running {STOP_TIMEOUT} s after Ctrl-C:\n{stderr.read_text()}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    # Then it exits 0 having said so, without a traceback, and lets go of every port
    assert code == 0, stderr.read_text()
    assert "stopping" in stdout.read_text()
    assert "Traceback" not in stderr.read_text()
    assert nothing_listens_on(port)
    for url in (api_url, *emulators.values()):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/health", timeout=2)
