"""A tenant's settings document, versioned: every write is conditional on the version read (the ETag of
`GET/PUT /tenants/{t}/settings`), so two admins never silently overwrite each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qbsync.aws_clients import client
from qbsync.models.tenant_settings import TenantSettings
from qbsync.repositories.dynamo import conflict_on_condition, from_item, to_item, to_values
from qbsync.repositories.keys import TENANT_SK, tenant_pk
from qbsync.utils.jsonio import dumps, loads

SETTINGS_SK = "SETTINGS"


@dataclass(frozen=True)
class VersionedSettings:
    settings: TenantSettings
    version: int  # 0 = never written: the defaults

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'


class TenantSettingsRepository:
    def __init__(self, *, table_name: str, dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        self._dynamodb = dynamodb

    def _client(self) -> Any:
        return self._dynamodb or client("dynamodb")

    def get(self, tenant_id: str) -> VersionedSettings:
        item = self._client().get_item(
            TableName=self._table_name, Key=to_item({"pk": tenant_pk(tenant_id), "sk": SETTINGS_SK}),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return VersionedSettings(TenantSettings(), 0)
        values = from_item(item)
        return VersionedSettings(TenantSettings.model_validate(loads(values["document"])), int(values["version"]))

    def put(self, tenant_id: str, settings: TenantSettings, *, expected_version: int,
            now: datetime | None = None) -> VersionedSettings:
        """Replace the document if its version is still `expected_version` (ConflictError otherwise).

        A `default_realm_id` is also pinned on the tenant record (`TENANT`), which is what event routing and
        `?realm_id`-less management calls read, in the same transaction: the setting and the routing never
        disagree. Null leaves the tenant record alone (at first, the first company connected)."""
        now = now or datetime.now(UTC)
        new_version = expected_version + 1
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :expected"
        values = {":expected": expected_version} if expected_version else {}
        put = {
            "TableName": self._table_name,
            "Item": to_item({"pk": tenant_pk(tenant_id), "sk": SETTINGS_SK, "tenant_id": tenant_id,
                             "document": dumps(settings.model_dump(mode="json")), "version": new_version,
                             "updated_at": now.isoformat()}),
            "ConditionExpression": condition,
            **({"ExpressionAttributeValues": to_values(values)} if values else {}),
        }
        with conflict_on_condition("the settings changed since they were read", expected_version=expected_version):
            if settings.default_realm_id is None:
                self._client().put_item(**put)
            else:
                self._client().transact_write_items(TransactItems=[
                    {"Put": put},
                    {"Update": {
                        "TableName": self._table_name,
                        "Key": to_item({"pk": tenant_pk(tenant_id), "sk": TENANT_SK}),
                        "UpdateExpression": "SET tenant_id = :tenant, default_realm_id = :realm, updated_at = :now",
                        "ExpressionAttributeValues": to_values({":tenant": tenant_id, ":now": now.isoformat(),
                                                                ":realm": settings.default_realm_id}),
                    }},
                ])
        return VersionedSettings(settings, new_version)
