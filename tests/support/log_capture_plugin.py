"""No secret in any log line (SPEC F22, issue 9 §3): capture what is logged and printed, and look in it for
every secret qbsync holds or is handed, and for payloads that must not be logged whole.

Two uses:
- as a library, by `tests/scans/test_scans.py`: a representative scenario runs with `LogCapture` attached and
  `IssuedSecrets` recording what the emulators hand out, then `find_leaks` scans it;
- as a pytest plugin for the *whole* run (enabled in `tests/conftest.py`; `-p log_capture_plugin` works too):
  every log record of every logger (the handlers' Powertools JSON lines, the local stack's `local_stack`
  lines at INFO as `make run` writes them, everything else at its configured level) and every test's captured
  stdout/stderr/log sections are scanned when the test's teardown ends. A finding fails that test (an error
  at teardown, naming the test and what was found, with the secret itself redacted); what is logged after the
  last test fails the session. Under pytest-xdist each worker scans its own lines; its tests' reports carry
  the findings to the controller, and anything found after its last test travels in `workeroutput`.
  Lines logged by a background thread (a queue runner of a module's local stack) count for the test that is
  running when they are logged.

What counts as a secret: the API key, the CRM inbound/outbound signing secrets (as configured and as the
decoded HMAC key), the Intuit client secret and verifier token, the client secret of every app registered with
a QBO emulator in the run, and every authorization code, access token and refresh token the QBO emulator
issued. Texts shorter than 8 characters are ignored (they would match by chance). Besides those, generic
patterns (`GENERIC_PATTERNS`): a bearer/basic credential, a `whsec_` secret, an OAuth token field with a value,
an authorization code in a URL, a whole CRM event envelope, a QBO invoice body with the memo its e-mail carries.

Speed: per test, one pass of C-speed searches over the test's text: a substring search per configured secret
(a dozen) and per pattern, and one regex split into words looked up in the set of issued tokens (there are
hundreds of those by the end of a run). An issued token is therefore found when it stands as its own word
(delimited by anything but `[A-Za-z0-9_-]`), which is how a token appears in a header, a URL, a form or JSON.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

MIN_SECRET_LENGTH = 8
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})))
_WORD = re.compile(r"[A-Za-z0-9_\-]{8,}")
_Q = r"\\?[\"']?"  # an optional quote, JSON-escaped or not (a JSON line may carry JSON inside a string)
_QQ = r"\\?[\"']"  # the same quote, required
GENERIC_PATTERNS: dict[str, re.Pattern[str]] = {
    "a bearer credential": re.compile(r"\bBearer\s+[A-Za-z0-9\-._~+/]{16,}=*"),
    "a basic credential": re.compile(r"\bBasic\s+[A-Za-z0-9+/]{16,}={0,2}"),
    "a Standard Webhooks secret (whsec_)": re.compile(r"whsec_[A-Za-z0-9+/]{8,}"),
    "an OAuth token or client secret field": re.compile(
        rf"\b(?:refresh_token|access_token|id_token|client_secret){_Q}\s*[:=]\s*{_Q}[A-Za-z0-9\-._~+/]{{8,}}"),
    "an authorization code in a URL": re.compile(r"[?&]code=[A-Za-z0-9\-._~+/%]{8,}"),
    "a whole CRM event envelope": re.compile(
        rf"{_QQ}type{_QQ}\s*:\s*{_QQ}(?:invoice|payment)\.[a-z_]+{_QQ}.{{0,2000}}?{_QQ}data{_QQ}\s*:\s*\{{"),
    "a QBO invoice body with its customer memo (the e-mail text)": re.compile(rf"{_QQ}CustomerMemo{_QQ}\s*:\s*\{{"),
}


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
    """Records, while installed, every token and code the QBO emulator's OAuth server generates (it makes
    them all with `qbo_emulator.oauth._token`) and the client secret of every app registered with it."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.client_secrets: list[str] = []
        self._lock = threading.Lock()
        self._original: Any = None
        self._original_register: Any = None

    def install(self) -> "IssuedSecrets":
        from qbo_emulator import oauth

        self._original = oauth._token
        self._original_register = oauth.OAuthServer.register_app

        def recording_token(prefix: str, size: int) -> str:
            value = self._original(prefix, size)
            with self._lock:
                self.values.append(value)
            return value

        def recording_register(server: Any, app: Any) -> None:
            with self._lock:
                self.client_secrets.append(str(app.client_secret))
            return self._original_register(server, app)

        oauth._token = recording_token
        oauth.OAuthServer.register_app = recording_register
        return self

    def uninstall(self) -> None:
        from qbo_emulator import oauth

        if self._original is not None:
            oauth._token = self._original
            oauth.OAuthServer.register_app = self._original_register
            self._original = self._original_register = None

    def snapshot(self) -> dict[str, str]:
        """Issued tokens and codes by name (registered client secrets are in `client_secret_snapshot`)."""
        with self._lock:
            return {f"issued token/code #{n}": value for n, value in enumerate(self.values)}

    def client_secret_snapshot(self) -> dict[str, str]:
        with self._lock:
            return {f"registered client secret #{n}": value for n, value in enumerate(self.client_secrets)}


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
    def __init__(self, capture: "LogCapture") -> None:
        super().__init__(level=logging.DEBUG)
        self._capture = capture

    def emit(self, record: logging.LogRecord) -> None:
        started = time.perf_counter()
        # With Powertools' formatter the line is exactly what Lambda would print (appended keys included).
        line = self.format(record) if self.formatter is not None else _render(record)
        with self._capture.lock:
            self._capture.lines.append(line)
            self._capture.seconds += time.perf_counter() - started


class LogCapture:
    """Keeps every record logged as a JSON line. One handler on the root logger and one on each logger that
    does not reach it: Powertools' "qbsync" logger puts a filter on the *root's* handlers that drops its own
    records (they would print twice), so a single shared handler would miss them. Levels are left as
    configured: what is scanned is what a deployment at that level would write."""

    LOGGERS = ("", "qbsync")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.seconds = 0.0  # spent keeping lines (formatting them), for the run's summary
        self._attached: list[tuple[logging.Logger, logging.Handler]] = []

    def attach(self) -> "LogCapture":
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            handler = _KeepLines(self)
            if name == "qbsync":
                from qbsync.observability import logger as powertools_logger

                handler.setFormatter(powertools_logger.registered_formatter)
            logger.addHandler(handler)
            self._attached.append((logger, handler))
        return self

    def drain(self) -> list[str]:
        """The lines kept so far, and forget them (a whole run's lines are never held at once)."""
        with self.lock:
            lines, self.lines[:] = list(self.lines), []
        return lines

    def detach(self) -> None:
        for logger, handler in self._attached:
            logger.removeHandler(handler)
        self._attached.clear()


# --- finding ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    secret: str
    """What was found, by name ("api key", "issued token/code #3", a generic pattern's name): never the value."""
    line: str


def _redact(text: str, values: Iterable[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "[REDACTED]")
    for pattern in GENERIC_PATTERNS.values():
        text = pattern.sub("[REDACTED]", text)
    return text


def _where(line: str) -> str:
    """The line's logger/location and message, for finding the code that logged it."""
    try:
        document = json.loads(line)
    except ValueError:
        return line[:160]
    if not isinstance(document, dict):
        return line[:160]
    origin = document.get("location") or document.get("logger") or "?"
    return f"{origin}: {str(document.get('message', ''))[:120]}"


@dataclass
class LeakReport:
    leaks: list[Leak] = field(default_factory=list)
    redact: set[str] = field(default_factory=set)
    """The secret values found: taken out of every line this report prints."""

    def __bool__(self) -> bool:
        return bool(self.leaks)

    def describe(self, limit: int = 20) -> str:
        unique = list(dict.fromkeys(self.leaks))  # a record seen by two handlers is one leak
        shown = []
        for leak in unique[:limit]:
            where = _redact(_where(leak.line), self.redact)
            if any(value in where for value in self.redact):  # belt and braces: never print the value
                where = "(line withheld)"
            shown.append(f"{leak.secret} in: {where}")
        more = f"\n  ... and {len(unique) - limit} more" if len(unique) > limit else ""
        return "secrets or payloads in log lines (values redacted):\n  " + "\n  ".join(shown) + more


class SecretIndex:
    """The secrets to look for, arranged for a fast scan: a few configured ones searched as substrings (as
    they are and JSON-escaped), the many issued tokens as a set of words."""

    def __init__(self, substrings: dict[str, str], words: dict[str, str] | None = None) -> None:
        self.substrings: dict[str, set[str]] = {}
        for name, value in substrings.items():
            if value and len(value) >= MIN_SECRET_LENGTH:
                self.substrings[name] = {value, json.dumps(value)[1:-1]}
        self.words: dict[str, tuple[str, str]] = {}  # a word of the text → (name, value)
        self.add_words(words or {})

    def add_words(self, secrets: dict[str, str]) -> None:
        for name, value in secrets.items():
            if not value or len(value) < MIN_SECRET_LENGTH:
                continue
            # Its longest word stands for it (an access token is a constant header, "..", then the random
            # part); too short a word would match by chance, so such a secret is searched as a substring.
            longest = max(_WORD.findall(value), key=len, default="")
            if len(longest) >= 16:
                self.words[longest] = (name, value)
            else:
                self.substrings[name] = {value, json.dumps(value)[1:-1]}

    def find(self, lines: list[str]) -> LeakReport:
        report = LeakReport()
        text = "\n".join(lines)
        hits: dict[str, set[str]] = {}
        for name, forms in self.substrings.items():
            found = {form for form in forms if form in text}
            if found:
                hits[name] = found
        for word in set(_WORD.findall(text)) & self.words.keys():
            name, value = self.words[word]
            hits.setdefault(name, set()).add(word)
            report.redact.add(value)
        for name, pattern in GENERIC_PATTERNS.items():
            if pattern.search(text):
                hits[name] = set()
        if not hits:
            return report
        for forms in hits.values():
            report.redact.update(forms)
        for line in lines:  # the rare path: which lines
            for name, forms in hits.items():
                pattern = GENERIC_PATTERNS.get(name)
                if (pattern is not None and pattern.search(line)) or any(form in line for form in forms):
                    report.leaks.append(Leak(name, line))
        return report


def find_leaks(lines: Iterable[str], secrets: dict[str, str]) -> LeakReport:
    """Every (secret, line) where the line contains one of `secrets` (as it is or JSON-escaped) or matches a
    generic pattern."""
    return SecretIndex(secrets).find(list(lines))


# --- the plugin -----------------------------------------------------------------------------------------------

WORKER_OUTPUT_KEY = "qbsync_log_leaks"
STATS_KEY = "qbsync_log_scan_stats"


class _Scanner:
    def __init__(self) -> None:
        self.capture = LogCapture().attach()
        self.issued = IssuedSecrets().install()
        self.index = SecretIndex(configured_secrets())
        self._known_tokens = 0
        self.lines = 0
        self.seconds = 0.0
        self._known_clients = 0
        # `make run` logs the local stack at INFO; in tests its logger is left at the root's WARNING.
        self._local_stack = logging.getLogger("local_stack")
        self._local_stack_level = self._local_stack.level
        self._local_stack.setLevel(logging.INFO)

    def _refresh(self) -> None:
        tokens = self.issued.snapshot()
        if len(tokens) != self._known_tokens:
            self._known_tokens = len(tokens)
            self.index.add_words(tokens)
        clients = self.issued.client_secret_snapshot()
        if len(clients) != self._known_clients:
            self._known_clients = len(clients)
            self.index.add_words(clients)

    def scan(self, extra_lines: Iterable[str] = ()) -> LeakReport:
        started = time.perf_counter()
        self._refresh()
        lines = [*self.capture.drain(), *extra_lines]
        found = self.index.find(lines)
        self.lines += len(lines)
        self.seconds += time.perf_counter() - started
        return found

    def stats(self) -> list[float]:
        return [self.lines, self.seconds + self.capture.seconds]

    def close(self) -> None:
        self.capture.detach()
        self.issued.uninstall()
        self._local_stack.setLevel(self._local_stack_level)


_scanner: _Scanner | None = None
_from_workers: list[str] = []
_stats = [0.0, 0.0]  # lines scanned, seconds spent keeping and scanning them (all processes)


def _is_worker(config: Any) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: Any) -> None:
    global _scanner
    if _scanner is None:
        _scanner = _Scanner()


_FINDINGS = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """Each phase: scan what was logged and captured since the last scan, and take any secret found out of the
    captured output before the report is shown or sent to the xdist controller; the teardown report of a
    test with findings fails (a failed setup would change which tests run)."""
    report = yield
    if _scanner is None:
        return report
    own = [line for when, _, text in item._report_sections if when == call.when for line in text.splitlines()]
    found = _scanner.scan(own)
    findings = item.stash.setdefault(_FINDINGS, [])
    if found:
        findings.append(found.describe())
        item._report_sections[:] = [(when, key, _redact(text, found.redact))
                                    for when, key, text in item._report_sections]
        report.sections = [(title, _redact(text, found.redact)) for title, text in report.sections]
    if call.when == "teardown" and findings:
        text = f"{item.nodeid}: " + "\n".join(findings)
        report.sections.append(("qbsync log scan", text))
        if report.passed:
            report.outcome = "failed"
            report.longrepr = text
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    output = getattr(node, "workeroutput", {})
    _from_workers.extend(output.get(WORKER_OUTPUT_KEY, []))
    for n, value in enumerate(output.get(STATS_KEY, [0, 0])):
        _stats[n] += value


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    global _scanner
    config = session.config
    if _scanner is not None:
        found = _scanner.scan()
        _scanner.close()
        if _is_worker(config):
            config.workeroutput[STATS_KEY] = _scanner.stats()
        else:
            _stats[0], _stats[1] = _stats[0] + _scanner.stats()[0], _stats[1] + _scanner.stats()[1]
        _scanner = None
        if found:
            text = f"after the last test: {found.describe()}"
            if _is_worker(config):
                config.workeroutput[WORKER_OUTPUT_KEY] = [text]
            else:
                _from_workers.append(text)
    if _is_worker(config) or not _from_workers:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for text in _from_workers:
            reporter.write_line(text, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _is_worker(terminalreporter.config) and _stats[0]:
        terminalreporter.write_line(f"qbsync log scan: {int(_stats[0])} lines kept and scanned in {_stats[1]:.1f} s "
                                    "(all processes)")
