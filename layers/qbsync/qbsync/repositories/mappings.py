"""Mappings table access: CRM id ↔ QBO id per tenant, company and object type.

Keys: pk = `TENANT#{tenant}#REALM#{realm}#{object}`, sk = `CRM#{crm id}`; the `by_qbo_id` index finds the
pair from the QBO side (`qbo_key` = pk + `#QBO#{qbo id}`). Every key starts with its tenant, so no query
of one tenant can reach another's pairs. Creating a pair is conditional (first writer wins: two workers
that raced to create the same QBO object end up using the same one); changing its state is conditional on
the version read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from qbsync.aws_clients import client
from qbsync.errors import ConflictError
from qbsync.models.mapping_records import InvoiceHold, MappedObject, Mapping, WaitingEvent
from qbsync.repositories.dynamo import conflict_on_condition, from_item, is_conditional_failure, to_item, to_values
from qbsync.utils.jsonio import dumps, loads


def mapping_pk(tenant_id: str, realm_id: str, object_type: str) -> str:
    return f"TENANT#{tenant_id}#REALM#{realm_id}#{object_type}"


def qbo_key(tenant_id: str, realm_id: str, object_type: str, qbo_id: str) -> str:
    return f"{mapping_pk(tenant_id, realm_id, object_type)}#QBO#{qbo_id}"


def _mapping(item: dict[str, Any]) -> Mapping:
    values = from_item(item)
    return Mapping(
        tenant_id=values["tenant_id"], realm_id=values["realm_id"], object_type=values["object_type"],
        crm_id=values["crm_id"], qbo_id=values["qbo_id"],
        created_at=datetime.fromisoformat(values["created_at"]),
        updated_at=datetime.fromisoformat(values["updated_at"]),
        state=loads(values.get("state", "{}")), version=int(values.get("version", 1)),
    )


HOLDS = "invoice_holds"  # InvoiceHold items share the table: same tenant-first keys, no QBO id (no index entry)


def _hold(item: dict[str, Any]) -> InvoiceHold:
    values = from_item(item)
    state = loads(values.get("state", "{}"))
    return InvoiceHold(tenant_id=values["tenant_id"], realm_id=values["realm_id"], crm_id=values["crm_id"],
                       reason=state.get("reason", ""), releasing=bool(state.get("releasing")),
                       waiting=tuple(WaitingEvent(**w) for w in state.get("waiting", [])),
                       version=int(values.get("version", 1)))


class MappingExistsError(ConflictError):
    code = "mapping_exists"

    def __init__(self, existing: Mapping) -> None:
        super().__init__("the CRM record is already paired", details={"qbo_id": existing.qbo_id})
        self.existing = existing


class MappingsRepository:
    def __init__(self, *, table_name: str, dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        self._dynamodb = dynamodb

    def _client(self) -> Any:
        return self._dynamodb or client("dynamodb")

    def _get_item(self, tenant_id: str, realm_id: str, object_type: str, crm_id: str) -> dict[str, Any] | None:
        return self._client().get_item(
            TableName=self._table_name,
            Key=to_item({"pk": mapping_pk(tenant_id, realm_id, object_type), "sk": f"CRM#{crm_id}"}),
            ConsistentRead=True,
        ).get("Item")

    def get(self, tenant_id: str, realm_id: str, object_type: MappedObject, crm_id: str) -> Mapping | None:
        item = self._get_item(tenant_id, realm_id, object_type, crm_id)
        return None if item is None else _mapping(item)

    def find_by_qbo_id(self, tenant_id: str, realm_id: str, object_type: MappedObject, qbo_id: str) -> Mapping | None:
        items = self._client().query(
            TableName=self._table_name, IndexName="by_qbo_id",
            KeyConditionExpression="qbo_key = :key",
            ExpressionAttributeValues=to_values({":key": qbo_key(tenant_id, realm_id, object_type, qbo_id)}),
        ).get("Items", [])
        return _mapping(items[0]) if items else None

    def create(self, tenant_id: str, realm_id: str, object_type: MappedObject, crm_id: str, qbo_id: str,
               *, state: dict[str, Any] | None = None, now: datetime | None = None) -> Mapping:
        """Pair a CRM record with a QBO object; if it is already paired, `MappingExistsError` carries the
        existing pair (which the caller then uses)."""
        now = now or datetime.now(UTC)
        values = {
            "pk": mapping_pk(tenant_id, realm_id, object_type), "sk": f"CRM#{crm_id}",
            "qbo_key": qbo_key(tenant_id, realm_id, object_type, qbo_id),
            "tenant_id": tenant_id, "realm_id": realm_id, "object_type": object_type,
            "crm_id": crm_id, "qbo_id": qbo_id, "created_at": now.isoformat(), "updated_at": now.isoformat(),
            "state": dumps(state or {}), "version": 1,
        }
        try:
            self._client().put_item(TableName=self._table_name, Item=to_item(values),
                                    ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if is_conditional_failure(error):
                existing = self.get(tenant_id, realm_id, object_type, crm_id)
                if existing is not None:
                    raise MappingExistsError(existing) from None
            raise
        return _mapping(to_item(values))

    def update_state(self, mapping: Mapping, state: dict[str, Any], *, qbo_id: str | None = None,
                     now: datetime | None = None) -> Mapping:
        """Replace the pair's state (and QBO id), if nobody changed it since `mapping` was read."""
        now = now or datetime.now(UTC)
        new_qbo_id = qbo_id or mapping.qbo_id
        with conflict_on_condition("the mapping changed since it was read", crm_id=mapping.crm_id):
            response = self._client().update_item(
                TableName=self._table_name,
                Key=to_item({"pk": mapping_pk(mapping.tenant_id, mapping.realm_id, mapping.object_type),
                             "sk": f"CRM#{mapping.crm_id}"}),
                UpdateExpression="SET #state = :state, qbo_id = :qbo, qbo_key = :key, updated_at = :now, "
                                 "version = version + :one",
                ConditionExpression="version = :version",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_values({
                    ":state": dumps(state), ":qbo": new_qbo_id,
                    ":key": qbo_key(mapping.tenant_id, mapping.realm_id, mapping.object_type, new_qbo_id),
                    ":now": now.isoformat(), ":one": 1, ":version": mapping.version,
                }),
                ReturnValues="ALL_NEW",
            )
        return _mapping(response["Attributes"])

    def delete(self, tenant_id: str, realm_id: str, object_type: MappedObject, crm_id: str) -> bool:
        response = self._client().delete_item(
            TableName=self._table_name,
            Key=to_item({"pk": mapping_pk(tenant_id, realm_id, object_type), "sk": f"CRM#{crm_id}"}),
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in response

    # --- invoice holds (events waiting on the dead-letter queue behind their invoice.sent) -------------

    def get_hold(self, tenant_id: str, realm_id: str, crm_invoice_id: str) -> InvoiceHold | None:
        item = self._get_item(tenant_id, realm_id, HOLDS, crm_invoice_id)
        return None if item is None else _hold(item)

    def put_hold(self, hold: InvoiceHold, *, now: datetime | None = None) -> InvoiceHold:
        """Store the hold if nobody changed it since it was read (`version` 0: if there is none yet);
        `ConflictError` otherwise."""
        now = now or datetime.now(UTC)
        state = {"reason": hold.reason, "releasing": hold.releasing,
                 "waiting": [w.model_dump() for w in hold.waiting]}
        values = {"pk": mapping_pk(hold.tenant_id, hold.realm_id, HOLDS), "sk": f"CRM#{hold.crm_id}",
                  "tenant_id": hold.tenant_id, "realm_id": hold.realm_id, "object_type": HOLDS,
                  "crm_id": hold.crm_id, "updated_at": now.isoformat(), "state": dumps(state),
                  "version": hold.version + 1}
        condition = ({"ConditionExpression": "attribute_not_exists(pk)"} if hold.version == 0 else
                     {"ConditionExpression": "version = :version",
                      "ExpressionAttributeValues": to_values({":version": hold.version})})
        with conflict_on_condition("the invoice hold changed since it was read", crm_id=hold.crm_id):
            self._client().put_item(TableName=self._table_name, Item=to_item(values), **condition)
        return hold.model_copy(update={"version": hold.version + 1})

    def delete_hold(self, hold: InvoiceHold) -> None:
        with conflict_on_condition("the invoice hold changed since it was read", crm_id=hold.crm_id):
            self._client().delete_item(
                TableName=self._table_name,
                Key=to_item({"pk": mapping_pk(hold.tenant_id, hold.realm_id, HOLDS), "sk": f"CRM#{hold.crm_id}"}),
                ConditionExpression="version = :version",
                ExpressionAttributeValues=to_values({":version": hold.version}))
