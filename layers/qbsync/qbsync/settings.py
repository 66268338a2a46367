"""The one place that reads the process environment.

Settings are validated once per cold start (`get_settings()` caches), never at import time, so tests and the
local stack can set the environment before the first call. Secret *values* are not here: only the ARNs of
the secrets that hold them (see `qbsync.secrets`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

ENV_PREFIX = "QBSYNC_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    intuit_environment: Literal["sandbox", "production"] = "sandbox"
    intuit_auth_url: HttpUrl = HttpUrl("https://appcenter.intuit.com/connect/oauth2")
    intuit_token_url: HttpUrl = HttpUrl("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer")
    intuit_revoke_url: HttpUrl = HttpUrl("https://developer.api.intuit.com/v2/oauth2/tokens/revoke")
    qbo_api_url: HttpUrl = HttpUrl("https://sandbox-quickbooks.api.intuit.com/v3")
    crm_base_url: HttpUrl | None = None
    # Empty means: derive qbsync's own URL from each request's host (see README, "PublicUrl").
    public_url: HttpUrl | None = None
    return_url_allowlist: tuple[str, ...] = ()
    poll_interval_seconds: int = Field(default=300, ge=1)
    # How long to wait after a QBO 429 that names no Retry-After (QBO.md §6.3: 60 s). A knob so that the
    # local stack's time-scaled emulator and benchmarks need not wait a real minute.
    qbo_throttle_wait_seconds: float = Field(default=60, ge=0, le=60)

    connections_table: str
    mappings_table: str
    idempotency_table: str
    rate_limit_table: str
    crm_events_queue_url: str
    crm_events_dlq_url: str
    poll_jobs_queue_url: str
    poll_jobs_dlq_url: str
    token_key_id: str

    intuit_secret_arn: str | None = None
    crm_secrets_arn: str | None = None
    api_key_secret_arn: str | None = None

    @field_validator("crm_base_url", "public_url", "intuit_secret_arn", "crm_secrets_arn",
                     "api_key_secret_arn", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("return_url_allowlist", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
        return value

    @property
    def table_names(self) -> dict[str, str]:
        return {
            "connections": self.connections_table,
            "mappings": self.mappings_table,
            "idempotency": self.idempotency_table,
            "rate_limit": self.rate_limit_table,
        }

    @property
    def queue_urls(self) -> dict[str, str]:
        return {
            "crm_events": self.crm_events_queue_url,
            "crm_events_dlq": self.crm_events_dlq_url,
            "poll_jobs": self.poll_jobs_queue_url,
            "poll_jobs_dlq": self.poll_jobs_dlq_url,
        }


def settings_from_environ(environ: dict[str, str] | os._Environ[str]) -> Settings:
    values = {
        key[len(ENV_PREFIX):].lower(): value for key, value in environ.items() if key.startswith(ENV_PREFIX)
    }
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_environ(os.environ)
