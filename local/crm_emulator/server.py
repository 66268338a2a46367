"""`CrmEmulator`: the CRM side of the outbound contract, served threaded on loopback in a background thread.

    crm = CrmEmulator(outbound_secret="whsec_...", port=0).start()
    ... point qbsync's QBSYNC_CRM_BASE_URL at crm.url ...
    crm.contacts("loc_1"); crm.counters(); crm.stop()
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from crm_emulator.app import create_app
from crm_emulator.faults import FaultPlan
from crm_emulator.state import EmulatorState
from qbsync.signatures.standard_webhooks import decode_secret


class _QuietRequestHandler(WSGIRequestHandler):
    # One access-log line per call drowns test output; errors are still logged.
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class CrmEmulator:
    def __init__(
        self,
        outbound_secret: str | Sequence[str],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tolerance_seconds: int = 300,
    ) -> None:
        secrets = [outbound_secret] if isinstance(outbound_secret, str) else list(outbound_secret)
        for secret in secrets:
            decode_secret(secret)
        self._state = EmulatorState()
        self.app = create_app(self._state, secrets, tolerance_seconds=tolerance_seconds)
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> "CrmEmulator":
        if self._server is not None:
            raise RuntimeError("the CRM emulator is already running")
        self._server = make_server(self._host, self._port, self.app, threaded=True,
                                   request_handler=_QuietRequestHandler)
        self._port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="crm-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> "CrmEmulator":
        return self.start() if self._server is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("start() the CRM emulator first")
        return f"http://{self._host}:{self._port}"

    # --- steering -------------------------------------------------------------------------------------

    def set_faults(self, status: int | None = None, rate: float = 1.0, retry_after: int | None = 1,
                   count: int | None = None, seed: int | None = None) -> None:
        """Answer `status` (429 or 5xx, with `Retry-After: retry_after`) to a `rate` fraction of calls, or
        to exactly the next `count` calls. `status=None` switches faults off."""
        plan = FaultPlan.build(status=status, rate=rate, retry_after=retry_after, count=count, seed=seed)
        with self._state.lock:
            self._state.faults = plan

    def reset(self) -> None:
        """Forget everything: records, idempotency keys, calls, counters, faults."""
        self._state.reset()

    # --- what the CRM received ------------------------------------------------------------------------

    def contacts(self, tenant_id: str) -> list[dict[str, Any]]:
        return self._state.tenant_dump(tenant_id)["contacts"]

    def products(self, tenant_id: str) -> list[dict[str, Any]]:
        return self._state.tenant_dump(tenant_id)["products"]

    def invoice_accounting(self, tenant_id: str) -> dict[str, dict[str, Any]]:
        return self._state.tenant_dump(tenant_id)["invoice_accounting"]

    def deal_accounting(self, tenant_id: str) -> dict[str, dict[str, Any]]:
        return self._state.tenant_dump(tenant_id)["deal_accounting"]

    def qbo_invoices(self, tenant_id: str) -> list[dict[str, Any]]:
        return self._state.tenant_dump(tenant_id)["qbo_invoices"]

    def review_requests(self, tenant_id: str) -> list[dict[str, Any]]:
        return self._state.tenant_dump(tenant_id)["review_requests"]

    def connection_updates(self, tenant_id: str) -> list[dict[str, Any]]:
        return self._state.tenant_dump(tenant_id)["connection_updates"]

    def calls(self) -> list[dict[str, Any]]:
        return self._state.calls()

    def counters(self) -> dict[str, Any]:
        return self._state.counters()

    def state(self) -> dict[str, Any]:
        return self._state.dump()
