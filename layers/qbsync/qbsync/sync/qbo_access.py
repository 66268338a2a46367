"""A QBO client for one connected company, authenticated through the token lifecycle.

`LifecycleSession` is the HTTP session QboClient calls: each request carries the current access token
(refreshed first when it is about to expire); a 401 means the token died early (revoked, or Intuit
expired it), so the token of that version is refreshed once and the request sent again.
"""

from __future__ import annotations

from typing import Any

import requests

from qbsync.sync.token_lifecycle import TokenLifecycle


class LifecycleSession:
    def __init__(self, lifecycle: TokenLifecycle, *, tenant_id: str, realm_id: str,
                 session: requests.Session | None = None) -> None:
        self._lifecycle = lifecycle
        self._tenant_id = tenant_id
        self._realm_id = realm_id
        self._session = session or requests.Session()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        grant = self._lifecycle.access_grant(self._tenant_id, self._realm_id)
        headers["Authorization"] = f"Bearer {grant.token.get_secret_value()}"
        response = self._session.request(method, url, headers=headers, **kwargs)
        if response.status_code != 401:
            return response
        response.close()
        grant = self._lifecycle.access_grant(self._tenant_id, self._realm_id, stale_version=grant.version)
        headers["Authorization"] = f"Bearer {grant.token.get_secret_value()}"
        return self._session.request(method, url, headers=headers, **kwargs)
