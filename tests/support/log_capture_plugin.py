"""No secret in any log line (SPEC F22, issue 9 §3): capture what is logged and printed, and look in it for
every secret qbsync holds or is handed.

Two uses:
- as a library, by `tests/scans/test_scans.py`: a representative scenario runs with `LogCapture` attached and
  `IssuedSecrets` recording what the emulators hand out, then `find_leaks` scans it;
- as a pytest plugin for the *whole* run (`-p log_capture_plugin`; `tests/support` is on the pythonpath):
  every log record of every logger, and every test's captured stdout/stderr, is scanned at the end of the
  session against the configured secrets and every token, code and signing key the emulators issued during
  the run; a leak makes the session fail with the offending lines.

What counts as a secret: the API key, the CRM inbound/outbound signing secrets (as configured and as the
decoded HMAC key), the Intuit client secret and verifier token, and every authorization code, access token
and refresh token the QBO emulator issued. Texts shorter than 8 characters are ignored (they would match
by chance).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MIN_SECRET_LENGTH = 8
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})))


def configured_secrets() -> dict[str, str]:
    """The local stack's development secrets, by name (with the decoded HMAC keys of the whsec_ ones)."""
    from qbsync_local import config

    found = {
        "api key": config.DEFAULT_API_KEY,
        "crm inbound secret": config.DEFAULT_CRM_INBOUND_SECRET,
        "crm outbound secret": config.DEFAULT_CRM_OUTBOUND_SECRET,
        "intuit client secret": config.DEFAULT_INTUIT_CLIENT_SECRET,
        "intuit verifier token": config.DEFAULT_VERIFIER_TOKEN,
    }
    for name in ("crm inbound secret", "crm outbound secret"):
        key = base64.b64decode(found[name].removeprefix("whsec_"))
        found[f"{name} (decoded key)"] = key.decode("latin-1")
        found[f"{name} (key, base64)"] = found[name].removeprefix("whsec_")
    return found


class IssuedSecrets:
    """Records every token and code the QBO emulator's OAuth server generates (it makes them all with
    `qbo_emulator.oauth._token`), while installed."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._lock = threading.Lock()
        self._original: Any = None

    def install(self) -> "IssuedSecrets":
        from qbo_emulator import oauth

        self._original = oauth._token

        def recording_token(prefix: str, size: int) -> str:
            value = self._original(prefix, size)
            with self._lock:
                self.values.append(value)
            return value

        oauth._token = recording_token
        return self

    def uninstall(self) -> None:
        from qbo_emulator import oauth

        if self._original is not None:
            oauth._token = self._original
            self._original = None

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return {f"issued token/code #{n}": value for n, value in enumerate(self.values)}


def _render(record: logging.LogRecord) -> str:
    """The record as a JSON line: the message with its arguments and every extra field (what a structured
    formatter would print), so a secret passed as `extra=` is seen too."""
    extras = {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES}
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string must not hide the rest
        message = f"{record.msg!r} % {record.args!r}"
    line = {"logger": record.name, "level": record.levelname, "message": message, **extras}
    if record.exc_info and record.exc_info[1] is not None:
        line["exception"] = repr(record.exc_info[1])
    return json.dumps(line, default=repr, ensure_ascii=False)


class _KeepLines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        # With Powertools' formatter the line is exactly what Lambda would print (appended keys included).
        self._lines.append(self.format(record) if self.formatter is not None else _render(record))


class LogCapture:
    """Keeps every record logged as a JSON line. One handler on the root logger and one on each logger that
    does not reach it: Powertools' "qbsync" logger puts a filter on the *root's* handlers that drops its own
    records (they would print twice), so a single shared handler would miss them. Levels are left as
    configured: what is scanned is what a deployment at that level would write."""

    LOGGERS = ("", "qbsync")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._attached: list[tuple[logging.Logger, logging.Handler]] = []

    def attach(self) -> "LogCapture":
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            handler = _KeepLines(self.lines)
            if name == "qbsync":
                from qbsync.observability import logger as powertools_logger

                handler.setFormatter(powertools_logger.registered_formatter)
            logger.addHandler(handler)
            self._attached.append((logger, handler))
        return self

    def detach(self) -> None:
        for logger, handler in self._attached:
            logger.removeHandler(handler)
        self._attached.clear()


@dataclass(frozen=True)
class Leak:
    secret: str
    line: str


@dataclass
class LeakReport:
    leaks: list[Leak] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.leaks)

    def describe(self, limit: int = 20) -> str:
        unique = list(dict.fromkeys(self.leaks))  # a record seen by two handlers is one leak
        shown = [f"{leak.secret}: {leak.line[:300]}" for leak in unique[:limit]]
        more = f"\n  ... and {len(unique) - limit} more" if len(unique) > limit else ""
        return "secrets in log lines:\n  " + "\n  ".join(shown) + more


def find_leaks(lines: Iterable[str], secrets: dict[str, str]) -> LeakReport:
    """Every (secret, line) where the line contains the secret, as it is or JSON-escaped."""
    needles = {}
    for name, value in secrets.items():
        if value and len(value) >= MIN_SECRET_LENGTH:
            needles[name] = {value, json.dumps(value)[1:-1]}
    report = LeakReport()
    for line in lines:
        for name, forms in needles.items():
            if any(form in line for form in forms):
                report.leaks.append(Leak(name, line))
    return report


# --- the plugin (`-p log_capture_plugin`) -----------------------------------------------------------------
# Under pytest-xdist each worker scans what it saw and writes its leaks to a shared folder; the controller
# (the process that decides the exit status) reads them at the end and fails the run.

_capture: LogCapture | None = None
_issued: IssuedSecrets | None = None
_outputs: list[str] = []


def _leak_folder(config: Any) -> Any:
    from pathlib import Path

    return Path(str(config.rootpath)) / ".pytest_cache" / "log_leaks"


def _is_worker(config: Any) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: Any) -> None:
    global _capture, _issued
    folder = _leak_folder(config)
    if not _is_worker(config):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.json"):
            stale.unlink()
    _capture = LogCapture().attach()
    _issued = IssuedSecrets().install()


def pytest_runtest_logreport(report: Any) -> None:
    # Whatever the test printed or logged through pytest's own capture (stdout, stderr, caplog).
    for _, text in getattr(report, "sections", []):
        _outputs.extend(text.splitlines())


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    config = session.config
    if _capture is not None and _issued is not None:
        secrets = {**configured_secrets(), **_issued.snapshot()}
        report = find_leaks([*_capture.lines, *_outputs], secrets)
        _capture.detach()
        _issued.uninstall()
        name = config.workerinput["workerid"] if _is_worker(config) else "main"
        folder = _leak_folder(config)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps([[leak.secret, leak.line] for leak in report.leaks]))
    if _is_worker(config):
        return
    leaks = [Leak(secret, line) for path in sorted(_leak_folder(config).glob("*.json"))
             for secret, line in json.loads(path.read_text())]
    if leaks:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(LeakReport(leaks).describe(), red=True)
        session.exitstatus = 1
