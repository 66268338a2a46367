"""A socket-free stand-in for the network under a requests session, for unit tests (as `botocore.stub`).

Mount it on a `requests.Session` or an `OAuth2Session` and every request goes to `responder` instead of a
socket; the real session code (OAuth headers, Basic auth, body encoding) still runs. The responder gets the
`PreparedRequest` and returns a `StubResponse`, or raises (e.g. `requests.ReadTimeout`) to simulate a lost
answer. Every request is kept in `requests` for assertions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from qbsync.clients.qbo import json_codec


@dataclass(frozen=True)
class StubResponse:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, document: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> StubResponse:
        return cls(
            status, json_codec.dumps(document), {"Content-Type": "application/json", **(headers or {})}
        )


def query_params(request: requests.PreparedRequest) -> dict[str, str]:
    """The decoded query string of a request, one value per name."""
    return {name: values[-1] for name, values in parse_qs(urlsplit(request.url or "").query).items()}


def url_path(request: requests.PreparedRequest) -> str:
    return urlsplit(request.url or "").path


class StubTransport(BaseAdapter):
    def __init__(self, responder: Callable[[requests.PreparedRequest], StubResponse]) -> None:
        super().__init__()
        self._responder = responder
        self.requests: list[requests.PreparedRequest] = []
        self.timeouts: list[Any] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        self.requests.append(request)
        self.timeouts.append(timeout)
        answer = self._responder(request)
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.body
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass

    def mount_on(self, session: requests.Session) -> requests.Session:
        session.mount("https://", self)
        session.mount("http://", self)
        return session
