"""The whole-run log scan (`tests/support/log_capture_plugin.py`, enabled in tests/conftest.py) can fail a run:
a small test suite that logs or prints secrets on purpose runs in a child `python -m pytest` (alone and under
pytest-xdist), and the plugin fails exactly the offending tests, names them, and never prints a secret."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qbsync_local.config import DEFAULT_API_KEY, DEFAULT_CRM_INBOUND_SECRET

ROOT = Path(__file__).resolve().parents[2]
BEARER_VALUE = "abcdefghijklmnop0123456789"  # made up: no configured or issued secret, only the pattern finds it

LEAKY = textwrap.dedent('''
    import logging
    from pathlib import Path

    from qbsync.observability import logger
    from qbsync_local.config import DEFAULT_API_KEY, DEFAULT_CRM_INBOUND_SECRET


    def test_logs_the_api_key_through_powertools():
        logger.info("calling the CRM", extra={"authorization": DEFAULT_API_KEY})


    def test_logs_a_signing_secret_through_another_logger():
        logging.getLogger("some.library").warning("verifying with %s", DEFAULT_CRM_INBOUND_SECRET)


    def test_logs_a_token_the_qbo_emulator_issued():
        from qbo_emulator import QboEmulator

        emulator = QboEmulator()
        emulator.register_app("log-scan-client", "log-scan-client-secret", ["http://127.0.0.1:9/cb"])
        realm = emulator.create_company(country="US")
        token = emulator.issue_tokens("log-scan-client", realm)["refresh_token"]
        Path("issued_token.txt").write_text(token)
        logging.getLogger("some.library").error("refresh failed for " + token)


    def test_logs_nothing_secret():
        logger.info("invoice applied", extra={"tenant_id": "loc_1", "qbo_id": "42"})
''')
PRINTING = textwrap.dedent(f'''
    def test_prints_a_bearer_header():
        print("Authorization: Bearer {BEARER_VALUE}")


    def test_prints_nothing_secret():
        print("hello")
''')
OFFENDERS = ("test_logs_the_api_key_through_powertools", "test_logs_a_signing_secret_through_another_logger",
             "test_logs_a_token_the_qbo_emulator_issued", "test_prints_a_bearer_header")


def run_child(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    (folder / "test_leaky.py").write_text(LEAKY)
    (folder / "test_printing.py").write_text(PRINTING)
    (folder / "pytest.ini").write_text("[pytest]\n")  # not the repository's settings
    paths = [ROOT / part for part in ("layers/qbsync", "local", "tools", "tests/support")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "log_capture_plugin", "-p", "no:cacheprovider", "-rA", *options,
         "test_leaky.py", "test_printing.py"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.parametrize("options", [(), ("-n", "2", "--dist", "loadfile")], ids=["one process", "xdist"])
def test_a_logged_secret_fails_the_run_naming_the_test_and_never_printing_the_secret(tmp_path, options):
    result = run_child(tmp_path, *options)
    output = result.stdout + result.stderr

    assert result.returncode == 1, output[-3000:]
    for name in OFFENDERS:
        assert f"ERROR test_{'printing' if 'print' in name else 'leaky'}.py::{name}" in output, name
    assert "PASSED test_leaky.py::test_logs_nothing_secret" in output
    assert "PASSED test_printing.py::test_prints_nothing_secret" in output
    assert "ERROR test_leaky.py::test_logs_nothing_secret" not in output
    assert "api key in:" in output and "a bearer credential in:" in output
    assert "crm inbound secret" in output and "issued token/code" in output
    issued = (tmp_path / "issued_token.txt").read_text()
    for secret in (DEFAULT_API_KEY, DEFAULT_CRM_INBOUND_SECRET, BEARER_VALUE, issued):
        assert secret not in output, "the report printed a secret"


def test_a_clean_suite_passes(tmp_path):
    (tmp_path / "test_clean.py").write_text("def test_nothing():\n    print('hello')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    paths = [ROOT / part for part in ("layers/qbsync", "local", "tools", "tests/support")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "log_capture_plugin", "-p", "no:cacheprovider", "-q", "test_clean.py"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))},
        capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
