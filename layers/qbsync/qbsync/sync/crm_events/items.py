"""Finding or creating the QBO item for each CRM invoice line (issue 5 §2).

A CRM product is known by its product id, else its SKU, else its name. mapping → QBO item of that name
→ the tenant's default item → a new Service item on the tenant's income account (or the company's first
income account). Known products cost no QBO call.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbsync.clients.qbo.errors import QboDuplicateNameError
from qbsync.clients.qbo.query import select
from qbsync.errors import ValidationFailedError
from qbsync.models.crm_events import InvoiceLine
from qbsync.repositories.mappings import MappingExistsError
from qbsync.sync.crm_events.context import ApplyContext
from qbsync.sync.invoice_mapping import map_item, qbo_name

ITEM_NAME_LIMIT = 100


def product_key(line: InvoiceLine) -> str:
    if line.product_id:
        return f"product:{line.product_id}"
    if line.sku:
        return f"sku:{line.sku}"
    return f"name:{line.name.strip().lower()}"


def _income_account(ctx: ApplyContext) -> str:
    if ctx.settings.default_item.income_account_id:
        return ctx.settings.default_item.income_account_id
    if "income_account" not in ctx.memo:
        accounts = ctx.qbo.query(select("Account", conditions=[("AccountType", "=", "Income")],
                                        max_results=1))
        if not accounts:
            raise ValidationFailedError("the company has no income account for new items; set "
                                        "default_item.income_account_id", code="no_income_account")
        ctx.memo["income_account"] = str(accounts[0]["Id"])
    return ctx.memo["income_account"]


def _link(ctx: ApplyContext, key: str, qbo_id: str) -> str:
    try:
        return ctx.mappings.create(ctx.tenant_id, ctx.realm_id, "items", key, qbo_id, state={"origin": "crm"}).qbo_id
    except MappingExistsError as race:
        return race.existing.qbo_id


def resolve_item(ctx: ApplyContext, line: InvoiceLine) -> str:
    key = product_key(line)
    mapping = ctx.mappings.get(ctx.tenant_id, ctx.realm_id, "items", key)
    if mapping is not None:
        return mapping.qbo_id
    name = qbo_name(line.name, ITEM_NAME_LIMIT)
    found = ctx.qbo.query(select("Item", conditions=[("Name", "=", name)], max_results=1))
    if found:
        return _link(ctx, key, str(found[0]["Id"]))
    if ctx.settings.default_item.qbo_item_id:
        return ctx.settings.default_item.qbo_item_id  # not paired: a later real product still gets its own
    try:
        created = ctx.qbo.create("Item", map_item(line, income_account_id=_income_account(ctx)),
                                 request_key=ctx.request_key("item", key))
    except QboDuplicateNameError as clash:
        if not clash.existing_id:
            raise
        return _link(ctx, key, clash.existing_id)
    return _link(ctx, key, str(created["Id"]))


def resolve_items(ctx: ApplyContext, lines: Sequence[InvoiceLine]) -> dict[str, str]:
    refs: dict[str, str] = {}
    by_key: dict[str, str] = {}
    for line in lines:
        key = product_key(line)
        if key not in by_key:
            by_key[key] = resolve_item(ctx, line)
        refs[line.id] = by_key[key]
    return refs
