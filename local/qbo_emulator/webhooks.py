"""Outgoing webhooks (QBO.md §7): legacy `eventNotifications` or CloudEvents, signed with intuit-signature.

Changes are queued per app (apps connected to the realm that have a webhook_url) and delivered by a
background thread, so the API never waits on a receiver. A delivery that fails (non-2xx or connection
error) stays queued in order and is retried with the next delivery or on `flush()` - a simplification of
Intuit's retry schedule, which holds later events behind a failed one in the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import requests

from .clock import Clock
from .counters import Counters
from .events import CLOUDEVENT_VERBS, ChangeEvent
from .oauth import App

MAX_EVENTS_PER_NOTIFICATION = 100


def sign(verifier_token: str, body: bytes) -> str:
    """intuit-signature: base64(HMAC-SHA256(key=verifier token, msg=raw body))."""
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def legacy_body(events: list[ChangeEvent], tz_for_realm: Callable[[str], tzinfo]) -> bytes:
    notifications: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        entity: dict[str, Any] = {
            "name": event.entity,
            "id": event.entity_id,
            "operation": event.operation,
            # Intuit's sample: company-local time with a colon-less offset, e.g. 2015-10-05T14:42:19-0700.
            "lastUpdated": event.time.astimezone(tz_for_realm(event.realm_id)).strftime(
                "%Y-%m-%dT%H:%M:%S%z"
            ),
        }
        if event.deleted_id is not None:
            entity["deletedId"] = event.deleted_id
        notifications.setdefault(event.realm_id, []).append(entity)
    payload = {
        "eventNotifications": [
            {"realmId": realm, "dataChangeEvent": {"entities": entities}}
            for realm, entities in notifications.items()
        ]
    }
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def cloudevents_body(events: list[ChangeEvent]) -> bytes:
    payload = []
    for event in events:
        data: dict[str, Any] = {}
        if event.deleted_id is not None:
            data["deletedId"] = event.deleted_id  # UNCONFIRMED shape: merges are not in Intuit's samples
        payload.append(
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
                "type": f"qbo.{event.entity.lower()}.{CLOUDEVENT_VERBS[event.operation]}.v1",
                "datacontenttype": "application/json",
                "time": _utc(event.time),
                "intuitentityid": event.entity_id,
                "intuitaccountid": event.realm_id,
                "data": data,
            }
        )
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


@dataclass
class Delivery:
    client_id: str
    url: str
    format: str
    status: int | None
    error: str | None
    event_count: int
    realm_ids: list[str]
    body: str
    headers: dict[str, str]
    time: str


class WebhookDispatcher:
    def __init__(
        self,
        clock: Clock,
        counters: Counters,
        apps_for_realm: Callable[[str], list[App]],
        app_by_id: Callable[[str], App | None],
        tz_for_realm: Callable[[str], tzinfo],
        timeout: float = 5.0,
    ) -> None:
        self.clock = clock
        self.counters = counters
        self.auto = True
        self.timeout = timeout
        self._apps_for_realm = apps_for_realm
        self._app_by_id = app_by_id
        self._tz_for_realm = tz_for_realm
        self._pending: dict[str, list[ChangeEvent]] = {}
        self._log: list[Delivery] = []
        self._cond = threading.Condition()
        self._wake = False
        self._busy = False
        self._stopping = False
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="qbo-emulator-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---- intake ------------------------------------------------------------------------------------
    def publish(self, events: list[ChangeEvent]) -> None:
        if not events:
            return
        with self._cond:
            for event in events:
                for app in self._apps_for_realm(event.realm_id):
                    if app.webhook_url:
                        self._pending.setdefault(app.client_id, []).append(event)
            self._wake = True
            self._cond.notify_all()

    def set_auto(self, auto: bool) -> None:
        with self._cond:
            self.auto = bool(auto)
            self._wake = self._wake or (self.auto and any(self._pending.values()))
            self._cond.notify_all()

    def pending(self, realm_id: str | None = None) -> int:
        with self._cond:
            return sum(
                1
                for events in self._pending.values()
                for e in events
                if realm_id is None or e.realm_id == realm_id
            )

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Until the background thread has nothing left it could deliver now (for tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy and (not self._wake or not self.auto), timeout)

    # ---- delivery ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or (self._wake and self.auto))
                if self._stopping:
                    return
                self._wake = False
                self._busy = True
            try:
                self.flush()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, realm_id: str | None = None) -> list[Delivery]:
        """Deliver what is queued now (for one realm or all); returns the deliveries attempted."""
        done: list[Delivery] = []
        with self._flush_lock:
            with self._cond:
                batches: dict[str, list[ChangeEvent]] = {}
                for client_id, events in self._pending.items():
                    mine = [e for e in events if realm_id is None or e.realm_id == realm_id]
                    if mine:
                        batches[client_id] = mine
                        self._pending[client_id] = [
                            e for e in events if realm_id is not None and e.realm_id != realm_id
                        ]
            for client_id, events in batches.items():
                for start in range(0, len(events), MAX_EVENTS_PER_NOTIFICATION):
                    chunk = events[start : start + MAX_EVENTS_PER_NOTIFICATION]
                    delivery = self._deliver(client_id, chunk)
                    done.append(delivery)
                    if delivery.status is None or not 200 <= delivery.status < 300:
                        with self._cond:  # keep order: the failed chunk and everything after go back first
                            self._pending[client_id] = events[start:] + self._pending.get(client_id, [])
                        break
        return done

    def _deliver(self, client_id: str, events: list[ChangeEvent]) -> Delivery:
        app = self._app_by_id(client_id)
        now = self.clock.now()
        if app is None or not app.webhook_url:
            return Delivery(
                client_id, "", "", None, "app has no webhook_url", len(events), [], "", {}, _utc(now)
            )
        if app.webhook_format == "legacy":
            body, content_type = legacy_body(events, self._tz_for_realm), "application/json"
        else:
            body, content_type = cloudevents_body(events), "application/cloudevents+json"
        headers = {
            "Content-Type": content_type,
            "intuit-signature": sign(app.verifier_token, body),
            "intuit-created-time": _utc(now),
            "intuit-t-id": str(uuid.uuid4()),
            "intuit-notification-schema-version": "0.1",
            "User-Agent": "intuit_notification_server/0.1",
        }
        status, error = None, None
        try:
            response = self._session.post(app.webhook_url, data=body, headers=headers, timeout=self.timeout)
            status = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self.counters.event("webhooks_sent" if ok else "webhooks_failed")
        delivery = Delivery(
            client_id,
            app.webhook_url,
            app.webhook_format,
            status,
            error,
            len(events),
            sorted({e.realm_id for e in events}),
            body.decode("utf-8"),
            headers,
            _utc(now),
        )
        with self._cond:
            self._log.append(delivery)
        return delivery

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [asdict(d) for d in self._log]
