"""Connections table access: OAuth states, realm claims, a tenant's connections and their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from qbsync.aws_clients import client
from qbsync.errors import ConflictError
from qbsync.models.connection_records import (
    CompanyFacts,
    ConnectionRecord,
    ConnectionStatus,
    ConnectionSummary,
    EncryptedTokens,
    OAuthState,
)
from qbsync.repositories.dynamo import conflict_on_condition, from_item, is_conditional_failure, to_item, to_values
from qbsync.repositories.keys import (
    CONNECTION_SK_PREFIX,
    REALM_CLAIM_SK,
    TENANT_SK,
    connection_sk,
    oauth_state_sk,
    realm_claim_pk,
    tenant_pk,
)

_TOKEN_ATTRIBUTES = ("access_token_ct", "refresh_token_ct", "token_obtained_at", "access_token_expires_at",
                     "refresh_token_expires_at", "refresh_token_hard_expires_at")


class RealmClaimedError(ConflictError):
    code = "realm_connected_to_another_tenant"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _when(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)


def _record(item: dict[str, Any]) -> ConnectionRecord:
    values = from_item(item)
    tokens = None
    if "refresh_token_ct" in values:
        tokens = EncryptedTokens(
            access_token=values["access_token_ct"],
            refresh_token=values["refresh_token_ct"],
            obtained_at=_when(values["token_obtained_at"]),
            access_token_expires_at=_when(values["access_token_expires_at"]),
            refresh_token_expires_at=_when(values.get("refresh_token_expires_at")),
            refresh_token_hard_expires_at=_when(values.get("refresh_token_hard_expires_at")),
        )
    return ConnectionRecord(
        tenant_id=values["tenant_id"],
        realm_id=values["realm_id"],
        status=values["status"],
        connected_at=_when(values["connected_at"]),
        updated_at=_when(values["updated_at"]),
        company=CompanyFacts.model_validate(values["company"]) if values.get("company") else None,
        tokens=tokens,
        token_version=int(values.get("token_version", 0)),
        expiry_warnings_sent=frozenset(values.get("expiry_warnings_sent", set())),
        status_reason=values.get("status_reason"),
        status_changed_at=_when(values.get("status_changed_at")),
        crm_told_status=values.get("crm_told_status"),
    )


def _token_values(tokens: EncryptedTokens) -> dict[str, Any]:
    return {
        "access_token_ct": tokens.access_token,
        "refresh_token_ct": tokens.refresh_token,
        "token_obtained_at": _iso(tokens.obtained_at),
        "access_token_expires_at": _iso(tokens.access_token_expires_at),
        "refresh_token_expires_at": _iso(tokens.refresh_token_expires_at),
        "refresh_token_hard_expires_at": _iso(tokens.refresh_token_hard_expires_at),
    }


class ConnectionsRepository:
    def __init__(self, *, table_name: str, dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        self._dynamodb = dynamodb

    def _client(self) -> Any:
        return self._dynamodb or client("dynamodb")

    # ------------------------------------------------------------------ OAuth state (single use)
    def save_oauth_state(self, state: OAuthState) -> None:
        with conflict_on_condition("that OAuth state already exists"):
            self._client().put_item(
                TableName=self._table_name,
                Item=to_item({
                    "pk": tenant_pk(state.tenant_id), "sk": oauth_state_sk(state.nonce),
                    "tenant_id": state.tenant_id, "return_url": state.return_url,
                    "created_at": _iso(state.created_at),
                    # TTL attribute: DynamoDB deletes stale states; the condition below refuses them first.
                    "expires_at": int(state.expires_at.timestamp()),
                }),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def consume_oauth_state(self, tenant_id: str, nonce: str, *, now: datetime) -> OAuthState | None:
        """Delete the state if it exists and has not expired; None when unknown, expired or already used.
        The conditional delete is what makes a state single-use across concurrent callbacks."""
        try:
            response = self._client().delete_item(
                TableName=self._table_name,
                Key=to_item({"pk": tenant_pk(tenant_id), "sk": oauth_state_sk(nonce)}),
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues=to_values({":now": int(now.timestamp())}),
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        values = from_item(response["Attributes"])
        return OAuthState(
            tenant_id=values["tenant_id"], nonce=nonce, return_url=values.get("return_url"),
            created_at=_when(values["created_at"]),
            expires_at=datetime.fromtimestamp(int(values["expires_at"]), UTC),
        )

    # ------------------------------------------------------------------ realm → tenant
    def claim_realm(self, tenant_id: str, realm_id: str, *, now: datetime) -> None:
        """A QBO company belongs to one tenant. Claiming it again for the same tenant is fine."""
        try:
            self._client().put_item(
                TableName=self._table_name,
                Item=to_item({"pk": realm_claim_pk(realm_id), "sk": REALM_CLAIM_SK, "tenant_id": tenant_id,
                              "realm_id": realm_id, "claimed_at": _iso(now)}),
                ConditionExpression="attribute_not_exists(pk) OR tenant_id = :tenant",
                ExpressionAttributeValues=to_values({":tenant": tenant_id}),
            )
        except ClientError as error:
            if is_conditional_failure(error):
                raise RealmClaimedError("this QuickBooks company is connected to another account",
                                        details={"realm_id": realm_id}) from None
            raise

    def realm_owner(self, realm_id: str) -> str | None:
        item = self._client().get_item(
            TableName=self._table_name, Key=to_item({"pk": realm_claim_pk(realm_id), "sk": REALM_CLAIM_SK}),
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else from_item(item)["tenant_id"]

    def release_realm(self, tenant_id: str, realm_id: str) -> None:
        try:
            self._client().delete_item(
                TableName=self._table_name, Key=to_item({"pk": realm_claim_pk(realm_id), "sk": REALM_CLAIM_SK}),
                ConditionExpression="tenant_id = :tenant", ExpressionAttributeValues=to_values({":tenant": tenant_id}),
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    # ------------------------------------------------------------------ connections
    def get(self, tenant_id: str, realm_id: str) -> ConnectionRecord | None:
        item = self._client().get_item(
            TableName=self._table_name, Key=to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)}),
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else _record(item)

    def connection_status(self, tenant_id: str, realm_id: str) -> ConnectionStatus | None:
        """The connection's status alone (None when there is no such connection): what event routing needs on
        every webhook, read without the encrypted tokens and company facts the full record carries."""
        item = self._client().get_item(
            TableName=self._table_name, Key=to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)}),
            ConsistentRead=True, ProjectionExpression="#status", ExpressionAttributeNames={"#status": "status"},
        ).get("Item")
        return from_item(item).get("status") if item else None

    def list_for_tenant(self, tenant_id: str) -> list[ConnectionRecord]:
        paginator = self._client().get_paginator("query")
        records = []
        for page in paginator.paginate(
            TableName=self._table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=to_values({":pk": tenant_pk(tenant_id), ":prefix": CONNECTION_SK_PREFIX}),
            ConsistentRead=True,
        ):
            records.extend(_record(item) for item in page.get("Items", []))
        return records

    def iter_all(self) -> Iterator[ConnectionSummary]:
        """Every connection of every tenant, whatever its status (the operator's `tenants` listing)."""
        paginator = self._client().get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table_name,
            FilterExpression="begins_with(sk, :prefix)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_values({":prefix": CONNECTION_SK_PREFIX}),
            ProjectionExpression="tenant_id, realm_id, #status",
        ):
            for item in page.get("Items", []):
                yield ConnectionSummary.model_validate(from_item(item))

    def iter_connected(self) -> Iterator[ConnectionSummary]:
        """Every connection whose status is `connected`, across tenants (the scheduler's full scan)."""
        paginator = self._client().get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table_name,
            FilterExpression="begins_with(sk, :prefix) AND #status = :connected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_values({":prefix": CONNECTION_SK_PREFIX, ":connected": "connected"}),
            ProjectionExpression="tenant_id, realm_id, #status",
        ):
            for item in page.get("Items", []):
                yield ConnectionSummary.model_validate(from_item(item))

    def store_connected(
        self, *, tenant_id: str, realm_id: str, company: CompanyFacts, tokens: EncryptedTokens, now: datetime
    ) -> ConnectionRecord:
        """A (re)connect: new tokens, status connected. `connected_at` is kept from the first connect."""
        values = {
            ":tenant": tenant_id, ":realm": realm_id, ":connected": "connected", ":company": company.model_dump(),
            ":now": _iso(now), ":zero": 0, ":one": 1,
            **{f":{name}": value for name, value in _token_values(tokens).items() if value is not None},
        }
        token_sets = ", ".join(f"{name} = :{name}" for name, value in _token_values(tokens).items()
                               if value is not None)
        removed = [name for name, value in _token_values(tokens).items() if value is None]
        response = self._client().update_item(
            TableName=self._table_name,
            Key=to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)}),
            UpdateExpression=(
                "SET tenant_id = :tenant, realm_id = :realm, #status = :connected, company = :company, "
                "updated_at = :now, status_changed_at = :now, connected_at = if_not_exists(connected_at, :now), "
                f"token_version = if_not_exists(token_version, :zero) + :one, {token_sets} "
                f"REMOVE status_reason, refresh_lease_until{''.join(', ' + name for name in removed)}"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_values(values),
            ReturnValues="ALL_NEW",
        )
        return _record(response["Attributes"])

    def acquire_refresh_lease(
        self, tenant_id: str, realm_id: str, *, expected_version: int, now: datetime, lease: timedelta
    ) -> bool:
        """Only the holder of the lease for this token version calls Intuit to refresh. A crashed holder's
        lease lapses after `lease`, so a refresh is never blocked for good."""
        try:
            self._client().update_item(
                TableName=self._table_name,
                Key=to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)}),
                UpdateExpression="SET refresh_lease_until = :until",
                ConditionExpression=("token_version = :version AND #status = :connected AND "
                                     "(attribute_not_exists(refresh_lease_until) OR refresh_lease_until < :now)"),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_values({
                    ":version": expected_version, ":connected": "connected",
                    ":now": int(now.timestamp()), ":until": int((now + lease).timestamp()),
                }),
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def replace_tokens(
        self, tenant_id: str, realm_id: str, tokens: EncryptedTokens, *, expected_version: int, now: datetime
    ) -> ConnectionRecord:
        """Persist refreshed tokens if nobody else did since `expected_version` (conflict otherwise)."""
        token_values = {name: value for name, value in _token_values(tokens).items() if value is not None}
        removed = [name for name, value in _token_values(tokens).items() if value is None]
        with conflict_on_condition("the tokens changed since they were read", realm_id=realm_id):
            response = self._client().update_item(
                TableName=self._table_name,
                Key=to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)}),
                UpdateExpression=(
                    "SET token_version = token_version + :one, updated_at = :now, "
                    + ", ".join(f"{name} = :{name}" for name in token_values)
                    + f" REMOVE refresh_lease_until{''.join(', ' + name for name in removed)}"
                ),
                ConditionExpression="token_version = :version AND #status = :connected",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_values({
                    ":one": 1, ":now": _iso(now), ":version": expected_version, ":connected": "connected",
                    **{f":{name}": value for name, value in token_values.items()},
                }),
                ReturnValues="ALL_NEW",
            )
        return _record(response["Attributes"])

    def change_status(
        self,
        tenant_id: str,
        realm_id: str,
        status: ConnectionStatus,
        *,
        now: datetime,
        reason: str | None = None,
        only_from: ConnectionStatus | None = None,
        drop_tokens: bool = False,
    ) -> bool:
        """Move a connection to `status`; False when it does not exist or (with `only_from`) was not in that
        status, so a caller can act exactly once per transition (e.g. tell the CRM once)."""
        condition = "attribute_exists(pk)" + (" AND #status = :from" if only_from else "")
        values: dict[str, Any] = {":status": status, ":now": _iso(now), ":reason": reason or status}
        if only_from:
            values[":from"] = only_from
        removed = ", ".join(("refresh_lease_until", *(_TOKEN_ATTRIBUTES if drop_tokens else ())))
        try:
            self._client().update_item(
                TableName=self._table_name,
                Key=to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)}),
                UpdateExpression=("SET #status = :status, updated_at = :now, status_changed_at = :now, "
                                  "status_reason = :reason"
                                  + (", token_version = token_version + :one" if drop_tokens else "")
                                  + f" REMOVE {removed}"),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_values({**values, **({":one": 1} if drop_tokens else {})}),
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def mark_crm_told(self, tenant_id: str, realm_id: str, status: str, *, status_changed_at: datetime) -> None:
        """The CRM acknowledged `status`; conditional on the status not having changed again since."""
        try:
            self._client().update_item(
                TableName=self._table_name,
                Key=to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)}),
                UpdateExpression="SET crm_told_status = :status",
                ConditionExpression="#status = :status AND status_changed_at = :changed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_values({":status": status, ":changed": _iso(status_changed_at)}),
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    def claim_disconnect_check(self, tenant_id: str, realm_id: str, *, now: datetime, window: timedelta,
                               limit: int) -> bool:
        """Whether Intuit may be asked about this connection now: at most `limit` times per `window` per
        company (the disconnect landing is anonymous; each check costs a token refresh at Intuit)."""
        key = to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)})
        earliest, stamp = int((now - window).timestamp()), int(now.timestamp())
        attempts = (
            # another check inside the current window, while it has room
            ("SET disconnect_checks = disconnect_checks + :one",
             "attribute_exists(pk) AND disconnect_checks_since > :earliest AND disconnect_checks < :limit"),
            # the first check of a new window
            ("SET disconnect_checks = :one, disconnect_checks_since = :now",
             "attribute_exists(pk) AND (attribute_not_exists(disconnect_checks_since) OR "
             "disconnect_checks_since <= :earliest)"),
        )
        for update, condition in attempts:
            values = {":one": 1, ":earliest": earliest}
            values.update({":limit": limit} if ":limit" in condition else {":now": stamp})
            try:
                self._client().update_item(TableName=self._table_name, Key=key, UpdateExpression=update,
                                           ConditionExpression=condition, ExpressionAttributeValues=to_values(values))
                return True
            except ClientError as error:
                if not is_conditional_failure(error):
                    raise
        return False

    def record_expiry_warning(self, tenant_id: str, realm_id: str, marker: str) -> bool:
        """Remember that a warning was sent; False when it already was (so it is sent once)."""
        try:
            self._client().update_item(
                TableName=self._table_name,
                Key=to_item({"pk": tenant_pk(tenant_id), "sk": connection_sk(realm_id)}),
                UpdateExpression="ADD expiry_warnings_sent :marker",
                ConditionExpression="attribute_exists(pk) AND NOT contains(expiry_warnings_sent, :one)",
                ExpressionAttributeValues=to_values({":marker": {marker}, ":one": marker}),
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    # ------------------------------------------------------------------ tenant
    def default_realm(self, tenant_id: str) -> str | None:
        item = self._client().get_item(
            TableName=self._table_name, Key=to_item({"pk": tenant_pk(tenant_id), "sk": TENANT_SK}),
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else from_item(item).get("default_realm_id")

    def set_default_realm_if_absent(self, tenant_id: str, realm_id: str, *, now: datetime) -> None:
        self._client().update_item(
            TableName=self._table_name,
            Key=to_item({"pk": tenant_pk(tenant_id), "sk": TENANT_SK}),
            UpdateExpression=("SET tenant_id = :tenant, default_realm_id = if_not_exists(default_realm_id, :realm), "
                              "updated_at = :now"),
            ExpressionAttributeValues=to_values({":tenant": tenant_id, ":realm": realm_id, ":now": _iso(now)}),
        )
