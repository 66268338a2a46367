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


class CrmEventMessage(BaseModel):
    """A CRM event accepted by `POST /webhooks/crm`, on its way to the worker. The envelope travels as the
    exact JSON the CRM signed, so the worker parses what the CRM sent, not a re-serialisation."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    realm_id: str
    event_id: str
    event_type: str
    webhook_id: str
    received_at: datetime
    envelope: str
