"""Fixtures for the QBO emulator's own tests: a started emulator, a US company with a connected app,
a small HTTP helper that talks to it like a client would, and a local webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from qbo_emulator import QboEmulator

from qbo_emulator import jsonio
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
REDIRECT_URI = "http://127.0.0.1:9/callback"
VERIFIER_TOKEN = "verifier-token-for-tests"


class QboHttp:
    """What a QBO client does, minus everything clever: bearer auth, minorversion, Decimal JSON."""

    def __init__(self, emu: QboEmulator, realm_id: str, access_token: str) -> None:
        self.emu = emu
        self.realm_id = realm_id
        self.access_token = access_token
        self.session = requests.Session()

    @property
    def base(self) -> str:
        return f"{self.emu.api_base_url}/company/{self.realm_id}"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json", **extra}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        params = {"minorversion": "75", **(params or {})}
        hdrs = self.headers(**(headers or {}))
        if json_body is not None:
            data = jsonio.dumps(json_body).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        return self.session.request(
            method, f"{self.base}{path}", params=params, data=data, headers=hdrs, timeout=10
        )

    def post(self, entity: str, body: Any, **params: Any) -> requests.Response:
        return self.request("POST", f"/{entity}", params=params, json_body=body)

    def get(self, entity: str, record_id: str) -> requests.Response:
        return self.request("GET", f"/{entity}/{record_id}")

    def query(self, text: str) -> requests.Response:
        return self.request("GET", "/query", params={"query": text})

    @staticmethod
    def body(response: requests.Response) -> Any:
        return jsonio.loads(response.content)

    def ok(self, response: requests.Response, entity: str | None = None) -> Any:
        assert response.status_code == 200, response.text
        body = self.body(response)
        return body[entity] if entity else body

    # Shortcuts used by many tests
    def create(self, entity: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        name = {"salesreceipt": "SalesReceipt"}.get(entity, entity.capitalize())
        return self.ok(self.post(entity, body, **params), name)

    def customer(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.create("customer", {"DisplayName": name, **fields})

    def invoice(self, customer_id: str, *amounts: str, **fields: Any) -> dict[str, Any]:
        lines = [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal(a),
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": Decimal(a)},
            }
            for a in amounts or ("100.00",)
        ]
        return self.create("invoice", {"CustomerRef": {"value": customer_id}, "Line": lines, **fields})

    def payment(
        self, customer_id: str, total: str, *applications: tuple[str, str], **fields: Any
    ) -> dict[str, Any]:
        lines = [
            {"Amount": Decimal(amount), "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}
            for invoice_id, amount in applications
        ]
        return self.create(
            "payment",
            {"CustomerRef": {"value": customer_id}, "TotalAmt": Decimal(total), "Line": lines, **fields},
        )


def fault_of(response: requests.Response) -> dict[str, Any]:
    """The first Error of a data-service Fault."""
    body = jsonio.loads(response.content)
    assert "Fault" in body, response.text
    return body["Fault"]["Error"][0]


@pytest.fixture
def emu() -> Iterator[QboEmulator]:
    emulator = QboEmulator().start()
    emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], VERIFIER_TOKEN)
    yield emulator
    emulator.stop()
    assert emulator.internal_errors == [], emulator.internal_errors


@pytest.fixture
def connect(emu: QboEmulator):
    """connect(realm_id) -> QboHttp with fresh tokens for that company."""

    def _connect(realm_id: str) -> QboHttp:
        return QboHttp(emu, realm_id, emu.issue_tokens(CLIENT_ID, realm_id)["access_token"])

    return _connect


@pytest.fixture
def realm(emu: QboEmulator) -> str:
    return emu.create_company(country="US", name="US AST Co")


@pytest.fixture
def qbo(connect, realm: str) -> QboHttp:
    return connect(realm)


@pytest.fixture
def fault():
    return fault_of


@pytest.fixture
def app_credentials() -> dict[str, str]:
    """The OAuth app the `emu` fixture registers."""
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "verifier_token": VERIFIER_TOKEN,
    }


class WebhookReceiver:
    """A local HTTP endpoint that records every request and answers with `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self._cond = threading.Condition()

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        self.server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=Quiet)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/webhooks"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._cond:
            self.received.append(
                {"headers": dict(request.headers), "body": request.get_data(), "status": self.status}
            )
            self._cond.notify_all()
            status = self.status
        return Response("ok", status=status)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()
