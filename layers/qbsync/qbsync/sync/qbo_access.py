"""A QBO client for one connected company, authenticated through the token lifecycle.

`LifecycleSession` is the HTTP session QboClient calls: each request carries the current access token
(refreshed first when it is about to expire); a 401 means the token died early (revoked, or Intuit
expired it), so the token of that version is refreshed once and the request sent again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from qbsync.observability import traced
from qbsync.sync.token_lifecycle import TokenLifecycle


def qbo_resource(url: str) -> str:
    """What a QBO URL is about, for traces: the segment after `/company/<realm>/` (`query`, `invoice`,
    `cdc`...). Never the query string: a QBO query quotes customer names."""
    _, _, rest = urlsplit(url).path.partition("/company/")
    parts = rest.split("/")
    return parts[1] if len(parts) > 1 else "other"


class LifecycleSession:
    def __init__(self, lifecycle: TokenLifecycle, *, tenant_id: str, realm_id: str,
                 session: requests.Session | None = None) -> None:
        self._lifecycle = lifecycle
        self._tenant_id = tenant_id
        self._realm_id = realm_id
        self._session = session or requests.Session()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        with traced("qbo", tenant_id=self._tenant_id, realm_id=self._realm_id, qbo_method=method,
                    qbo_resource=qbo_resource(url)):
            return self._request(method, url, **kwargs)

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
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
