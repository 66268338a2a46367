"""Cached boto3 clients. Created on first use (never at import time) with timeouts always set.

boto3 honours AWS_ENDPOINT_URL, which is how the local stack points every handler at moto.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})


@lru_cache(maxsize=None)
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)
