"""Helpers for hostile requests: the machine-readable reason of an answer, and raw HTTP for what `requests`
refuses to send (CR/LF inside header values, malformed header lines)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests


def error_code(response: requests.Response) -> str | None:
    """The machine-readable reason of an error answer (JSON `{"error": {"code"}}`), None if there is none."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def raw_request(base_url: str, request_head: bytes, body: bytes = b"") -> RawAnswer:
    """Send bytes as they are (requests and http.client refuse CR/LF in header values; attackers do not)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as connection:
        connection.sendall(request_head + body)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in header_lines)
    ]
    return RawAnswer(status=int(status_line.split()[1]), headers=headers, body=payload)


def head(method: str, path: str, host: str, lines: list[bytes], body: bytes = b"") -> bytes:
    built = [
        f"{method} {path} HTTP/1.1".encode(),
        f"Host: {host}".encode(),
        b"Connection: close",
        f"Content-Length: {len(body)}".encode(),
        *lines,
    ]
    return b"\r\n".join(built) + b"\r\n\r\n"


def assert_refused(
    response: requests.Response, status: int | tuple[int, ...], code: str | tuple[str, ...]
) -> None:
    statuses = (status,) if isinstance(status, int) else status
    codes = (code,) if isinstance(code, str) else code
    assert response.status_code in statuses and error_code(response) in codes, (
        f"expected {statuses} {codes}, got {response.status_code} {response.text[:300]}"
    )
