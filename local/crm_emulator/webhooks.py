"""`CrmWebhookSender`: what the CRM does when it calls `POST /webhooks/crm`, correctly or, on request, not.

    sender = CrmWebhookSender(f"{api_url}/webhooks/crm", ["whsec_..."])
    sender.send(builders.invoice_sent("loc_1"))                    # signed, current timestamp
    sender.send(event, skew_seconds=-301)                          # stale → qbsync must answer 401
    sender.send(event, bad_signature=True)                         # signed with a key qbsync does not know
    sender.send(event, signed=False)                               # no webhook-* headers at all
    sender.send(None, body=b"{not json")                           # malformed body, correctly signed
    prepared = sender.prepare(event)                               # body + headers, for in-process tests

The default `webhook-id` is the envelope's `id`, so sending the same envelope twice is a redelivery of one
message (qbsync must acknowledge and ignore the second); pass `webhook_id=` to send it as a new message.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from qbsync.signatures.standard_webhooks import (
    HEADER_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    decode_secret,
    sign,
)
from qbsync.utils.jsonio import dumps


def random_secret() -> str:
    """A fresh `whsec_` secret (32 random bytes), e.g. for a deliberately wrong signature."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode("ascii")


@dataclass(frozen=True)
class PreparedWebhook:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class CrmWebhookSender:
    def __init__(
        self,
        target_url: str,
        secrets: Sequence[str] | str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (3.05, 30),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target_url = target_url
        self._secrets = [secrets] if isinstance(secrets, str) else list(secrets)
        for secret in self._secrets:
            decode_secret(secret)
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock

    def __repr__(self) -> str:  # never show the secrets
        return f"CrmWebhookSender(target_url={self.target_url!r})"

    def prepare(
        self,
        envelope: Mapping[str, Any] | None,
        *,
        body: bytes | None = None,
        webhook_id: str | None = None,
        timestamp: int | None = None,
        skew_seconds: int = 0,
        secret_index: int | None = 0,
        signed: bool = True,
        bad_signature: bool = False,
        omit_headers: Iterable[str] = (),
    ) -> PreparedWebhook:
        """The exact bytes and headers `send` would post.

        `secret_index` picks the signing secret (None: sign with all of them, as a sender rotating
        secrets does); `bad_signature` signs with a random secret instead; `signed=False` leaves out the
        three webhook-* headers; `omit_headers` leaves out the named ones only.
        """
        if body is None:
            if envelope is None:
                raise ValueError("give an envelope or a body")
            body = dumps(dict(envelope)).encode("utf-8")
        if webhook_id is None:
            envelope_id = envelope.get("id") if envelope is not None else None
            is_usable = isinstance(envelope_id, str) and envelope_id
            webhook_id = envelope_id if is_usable else f"msg_{uuid.uuid4().hex}"
        moment = int(self._clock()) + skew_seconds if timestamp is None else timestamp

        headers = {"Content-Type": "application/json"}
        if signed:
            if bad_signature:
                keys = [random_secret()]
            elif secret_index is None:
                keys = self._secrets
            else:
                keys = [self._secrets[secret_index]]
            headers[HEADER_ID] = webhook_id
            headers[HEADER_TIMESTAMP] = str(moment)
            headers[HEADER_SIGNATURE] = " ".join(sign(key, webhook_id, moment, body) for key in keys)
        dropped = {name.lower() for name in omit_headers}
        headers = {name: value for name, value in headers.items() if name.lower() not in dropped}
        return PreparedWebhook(body=body, headers=headers)

    def send(
        self,
        envelope: Mapping[str, Any] | None,
        *,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> requests.Response:
        """POST the envelope (see `prepare` for the options); `headers` adds or replaces headers."""
        prepared = self.prepare(envelope, **options)
        return self._session.post(self.target_url, data=prepared.body,
                                  headers={**prepared.headers, **(headers or {})}, timeout=self._timeout)
