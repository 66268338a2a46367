"""Answers for the browser-facing routes (connect, OAuth callback, Intuit's disconnect landing).

A person's browser asks for HTML and gets a small page; a program (curl, a test, the CRM's backend)
gets the usual JSON error. Either way the status code and a machine-readable `code` say what happened
(the page carries it in `<meta name="qbsync-code">`). Pages never show a token, code or secret: every
value put in a page is escaped and comes from a short list of safe fields.
"""

from __future__ import annotations

import html
from typing import Any

from qbsync.api.http import APPLICATION_JSON, TEXT_HTML, Response
from qbsync.utils.jsonio import dumps

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="qbsync-code" content="{code}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} .code{{color:#666;font-size:.85rem}}</style></head>
<body><h1>{title}</h1><p>{message}</p><p class="code">Reference: {code}</p></body></html>
"""
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def wants_html(headers: dict[str, str]) -> bool:
    accept = next((value for name, value in headers.items() if name.lower() == "accept"), "")
    return "text/html" in accept.lower()


def page(status: int, *, title: str, message: str, code: str, headers: dict[str, str], **extra: Any) -> Response:
    if wants_html(headers):
        body = _PAGE.format(title=html.escape(title), message=html.escape(message), code=html.escape(code))
        return Response(status_code=status, content_type=TEXT_HTML, body=body,
                        headers=_SECURITY_HEADERS)
    payload: dict[str, Any]
    if status >= 400:
        payload = {"error": {"code": code, "message": message, **extra}}
    else:
        payload = {"status": code, "message": message, **extra}
    return Response(status_code=status, content_type=APPLICATION_JSON, body=dumps(payload),
                    headers=_SECURITY_HEADERS)


def redirect(location: str) -> Response:
    return Response(status_code=302, content_type=TEXT_HTML, body="",
                    headers={"Location": location, **_SECURITY_HEADERS})
