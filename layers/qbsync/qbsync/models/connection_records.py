"""What the connections table holds about a tenant's link to a QBO company (the parts the scheduler needs;
the OAuth flow adds tokens and company facts)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

ConnectionStatus = Literal["connected", "disconnected", "needs_reauth"]


class ConnectionSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    realm_id: str
    status: ConnectionStatus
