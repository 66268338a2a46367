"""Reading and replacing a tenant's settings document (SPEC F18, "Contract details: Settings").

Versioning: the ETag is the stored version (`"v3"`); SPEC's `PUT` replaces the whole document, and `If-Match`
(RFC 9110) makes that replacement conditional when the caller sends it:
- `If-Match` names the current version (or is `*`: "whatever is current") → written, conditional on that
  version, so of two admins who read the same version only the first write wins; the other gets 412.
- `If-Match` names any other version → 412 `precondition_failed`, nothing written.
- no `If-Match`: the document is replaced whatever its version (SPEC asks for nothing more; the last writer
  wins). The write is still conditional on the version just read, and retried on a race, so the stored
  version always counts every write.

A tenant's settings may be written before it connects a company (its first connect's backfill follows
`backfill_on_connect`); reading is a 404 `tenant_not_found` only for a tenant with neither.

Validation happens before the version check, so a 422 names every bad field whatever the ETag: the model
(unknown keys, wrong types) and then the rules the model cannot know alone:
- `default_realm_id` must be one of the tenant's companies that is not disconnected;
- QBO ids (`tax_codes` values, `default_item.*`, custom field definition ids) must look like QBO ids (digits);
  whether QBO has them is found out when they are used (an unknown TaxCode dead-letters the event with
  QBO's reason), since checking here would make every PUT call QBO;
- custom field definition ids and names must be unique.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbsync.errors import ConflictError, PreconditionFailedError
from qbsync.models.connection_records import ConnectionRecord
from qbsync.models.field_errors import parse_model, validation_failed
from qbsync.models.identifiers import is_qbo_id
from qbsync.models.tenant_settings import TenantSettings
from qbsync.repositories.connections import ConnectionsRepository
from qbsync.repositories.tenant_settings import TenantSettingsRepository, VersionedSettings
from qbsync.sync.tenants import known_tenant


def _cross_field_errors(settings: TenantSettings, companies: Sequence[ConnectionRecord]) -> list[dict[str, str]]:
    errors = []

    def bad(field: str, reason: str, kind: str) -> None:
        errors.append({"field": field, "reason": reason, "type": kind})

    usable = {c.realm_id for c in companies if c.status != "disconnected"}
    if settings.default_realm_id is not None and settings.default_realm_id not in usable:
        bad("default_realm_id", "not one of the tenant's connected QuickBooks companies", "not_connected")
    for name, code in settings.tax_codes.items():
        if not is_qbo_id(code):
            bad(f"tax_codes.{name}", "must be a QBO TaxCode Id (digits)", "qbo_id")
    for field in ("qbo_item_id", "income_account_id"):
        value = getattr(settings.default_item, field)
        if value is not None and not is_qbo_id(value):
            bad(f"default_item.{field}", "must be a QBO id (digits)", "qbo_id")
    seen_ids: set[str] = set()
    seen_names: set[str] = set()
    for index, custom in enumerate(settings.invoice_fields.custom_fields):
        where = f"invoice_fields.custom_fields[{index}]"
        if not is_qbo_id(custom.qbo_definition_id):
            bad(f"{where}.qbo_definition_id", "must be a QBO custom field DefinitionId (digits)", "qbo_id")
        if custom.qbo_definition_id in seen_ids:
            bad(f"{where}.qbo_definition_id", "used twice", "duplicate")
        if custom.name.lower() in seen_names:
            bad(f"{where}.name", "used twice", "duplicate")
        seen_ids.add(custom.qbo_definition_id)
        seen_names.add(custom.name.lower())
    return errors


def validate_settings(document: dict, companies: Sequence[ConnectionRecord]) -> TenantSettings:
    settings = parse_model(TenantSettings, document, what="the settings document")
    errors = _cross_field_errors(settings, companies)
    if errors:
        raise validation_failed(errors, "the settings document is not valid")
    return settings


_UNCONDITIONAL_ATTEMPTS = 3


def _etags(if_match: str) -> list[str]:
    return [tag.strip() for tag in if_match.split(",") if tag.strip()]


def _unconditional(if_match: str | None) -> bool:
    return if_match is None or not if_match.strip()


def expected_version(current: VersionedSettings, if_match: str | None) -> int:
    """The version the write must be conditional on (the current one without If-Match), or the 412 refusal."""
    if _unconditional(if_match):
        return current.version
    tags = _etags(if_match)
    if "*" in tags or current.etag in tags:
        return current.version
    raise PreconditionFailedError("the settings changed since you read them: GET them again and reapply your change",
                                  details={"etag": current.etag})


def read_settings(tenant_id: str, *, connections: ConnectionsRepository,
                  repository: TenantSettingsRepository) -> VersionedSettings:
    """404 only for a tenant qbsync has never heard of: no company connected and no settings written."""
    current = repository.get(tenant_id)
    if current.version == 0:
        known_tenant(connections, tenant_id)
    return current


def replace_settings(tenant_id: str, document: dict, *, if_match: str | None, connections: ConnectionsRepository,
                     repository: TenantSettingsRepository) -> VersionedSettings:
    # Allowed before the tenant's first connect, so that a CRM can set `backfill_on_connect: false` (or any
    # other setting) before the import it governs starts; with no company, `default_realm_id` must stay null.
    companies = connections.list_for_tenant(tenant_id)
    settings = validate_settings(document, companies)
    for _ in range(_UNCONDITIONAL_ATTEMPTS):
        version = expected_version(repository.get(tenant_id), if_match)
        try:
            return repository.put(tenant_id, settings, expected_version=version)
        except ConflictError:
            if _unconditional(if_match):
                continue  # another write landed between our read and ours: replace that one instead
            # The version the caller had is stale.
            current = repository.get(tenant_id)
            raise PreconditionFailedError("the settings changed since you read them: GET them again and reapply "
                                          "your change", details={"etag": current.etag}) from None
    raise ConflictError("the settings are being written by others right now; try again",
                        code="settings_write_contended")
