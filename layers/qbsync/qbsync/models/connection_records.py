"""What the connections table holds about a tenant's links to QBO companies (SPEC F1-F4).

Tokens are stored only as KMS ciphertexts (qbsync.security.token_cipher); nothing here holds a plaintext
token. `token_version` goes up on every token write: refreshes are conditional on it, so exactly one
refresh wins per version (QBO.md §8.1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

ConnectionStatus = Literal["connected", "disconnected", "needs_reauth"]


class ConnectionSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    realm_id: str
    status: ConnectionStatus


class CompanyFacts(BaseModel):
    """Read from CompanyInfo and Preferences at connect time; the invoice mapping depends on them."""

    model_config = ConfigDict(frozen=True)

    company_name: str
    country: str
    home_currency: str
    multicurrency: bool
    custom_txn_numbers: bool
    automated_sales_tax: bool
    using_sales_tax: bool = False
    time_zone: str | None = None


class EncryptedTokens(BaseModel):
    model_config = ConfigDict(frozen=True)

    access_token: bytes
    refresh_token: bytes
    obtained_at: datetime
    access_token_expires_at: datetime
    refresh_token_expires_at: datetime | None = None
    refresh_token_hard_expires_at: datetime | None = None


class ConnectionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    realm_id: str
    status: ConnectionStatus
    connected_at: datetime
    updated_at: datetime
    company: CompanyFacts | None = None
    tokens: EncryptedTokens | None = None
    token_version: int = 0
    # Which expiry warnings were sent, as "<threshold>:<expiry iso>", so each is sent once per expiry.
    expiry_warnings_sent: frozenset[str] = frozenset()
    status_reason: str | None = None
    # When the status last changed, and the last status the CRM acknowledged: a status the CRM has not
    # heard of yet is told again (with the same Idempotency-Key) until it answers.
    status_changed_at: datetime | None = None
    crm_told_status: str | None = None

    @property
    def crm_needs_telling(self) -> bool:
        return self.crm_told_status != self.status

    @property
    def summary(self) -> ConnectionSummary:
        return ConnectionSummary(tenant_id=self.tenant_id, realm_id=self.realm_id, status=self.status)


class OAuthState(BaseModel):
    """A connect attempt between the redirect to Intuit and the callback: single use, 10-minute life."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    nonce: str
    return_url: str | None
    created_at: datetime
    expires_at: datetime
