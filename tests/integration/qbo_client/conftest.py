"""Fixtures for `QboClient` against the QBO emulator over real HTTP on 127.0.0.1.

The client is built the way production builds it: tokens from Intuit's token answer (the emulator's),
an `OAuth2Session` from `IntuitOAuthClient.api_session`, the real retry policy. Only two seams are
replaced: `sleep` (recorded, never slept: a 429 means 60 s) and `clock` (the emulator's, so the CDC
30-day check and the emulator agree on "now" after a test moves the emulator clock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from qbo_emulator import Clock, QboEmulator
from qbsync.clients.qbo import IntuitOAuthClient, QboClient, TokenSet

CLIENT_ID = "qbo-client-tests"
CLIENT_SECRET = "qbo-client-tests-secret"
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"


@dataclass
class SleepRecorder:
    """The client's `sleep`: remembers each wait and runs `then` (e.g. heal a fault) instead of sleeping."""

    waits: list[float] = field(default_factory=list)
    then: Callable[[float], None] | None = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            self.then(seconds)


@pytest.fixture(autouse=True)
def _plain_http_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses to put a bearer token on a plain-http URL; the emulator is plain http on loopback.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def emulator_clock() -> Clock | None:
    """The emulator's clock; None = wall time. A test module overrides this fixture to control time."""
    return None


@pytest.fixture
def emu(emulator_clock: Clock | None) -> Iterator[QboEmulator]:
    """One emulator per test: counters, faults and the rate windows are emulator-wide."""
    emulator = QboEmulator(clock=emulator_clock).start()
    emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    yield emulator
    emulator.stop()
    assert emulator.internal_errors == [], emulator.internal_errors


@pytest.fixture
def realm(emu: QboEmulator) -> str:
    return emu.create_company(country="US", name="Client Tests Inc")


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def _tokens_for(emu: QboEmulator, realm_id: str) -> TokenSet:
    answer = emu.issue_tokens(CLIENT_ID, realm_id)
    return TokenSet.from_token_response(answer, received_at=datetime.now(UTC))


@pytest.fixture
def token_answer(emu: QboEmulator) -> Callable[[str], dict[str, Any]]:
    """token_answer(realm_id) -> Intuit's token response (a plain dict: it pickles into other processes)."""
    return lambda realm_id: emu.issue_tokens(CLIENT_ID, realm_id)


@pytest.fixture
def issue_tokens(emu: QboEmulator) -> Callable[[str], TokenSet]:
    """issue_tokens(realm_id) -> a connected app's tokens, as the code exchange would store them."""
    return lambda realm_id: _tokens_for(emu, realm_id)


def oauth_client(emu: QboEmulator) -> IntuitOAuthClient:
    return IntuitOAuthClient(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        authorization_url=emu.auth_url,
        token_url=emu.token_url,
        revoke_url=emu.revoke_url,
    )


@pytest.fixture
def make_client(emu: QboEmulator, sleeps: SleepRecorder) -> Callable[..., QboClient]:
    """make_client(realm_id, *, tokens=None, **QboClient options) -> a QboClient with its own session
    (each call is "another Lambda"), recording its sleeps in the `sleeps` fixture unless given one."""

    def make(realm_id: str, *, tokens: TokenSet | None = None, **options: Any) -> QboClient:
        session = oauth_client(emu).api_session(tokens or _tokens_for(emu, realm_id))
        options.setdefault("sleep", sleeps)
        options.setdefault("clock", emu.clock.now)
        return QboClient(realm_id=realm_id, api_base_url=emu.api_base_url, session=session, **options)

    return make


@pytest.fixture
def qbo(make_client: Callable[..., QboClient], realm: str) -> QboClient:
    return make_client(realm)


@pytest.fixture
def served(emu: QboEmulator) -> Callable[[str], int]:
    """served("GET /v3/company/{realm}/query") -> how many requests the emulator counted there."""
    return lambda endpoint: int(emu.counters()["requests"].get(endpoint, 0))
