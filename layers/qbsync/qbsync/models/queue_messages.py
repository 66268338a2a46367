"""Bodies of the messages on our queues. Every message names its tenant (isolation, redrive by tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class PollJobMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    realm_id: str
    reason: Literal["schedule", "qbo_webhook", "sync_now", "backfill"]
    requested_at: datetime
