"""Pydantic validation errors → our 422 body: `{"code": "validation_failed", "details": {"fields": [...]}}`.

Each bad field is named by its path in the body (`sync.customerz`, `invoice_fields.custom_fields[0].source`,
`tax_codes.VAT`) with a reason and pydantic's error type. The rejected *value* is never echoed back (it may
be anything the caller sent, and error bodies end up in logs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from qbsync.errors import ValidationFailedError

ModelT = TypeVar("ModelT", bound=BaseModel)
_REASONS = {"extra_forbidden": "unknown field", "missing": "required"}


def field_path(loc: Sequence[Any]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":
            continue  # the key itself is bad: the path already ends with it
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    fields = []
    for item in error.errors(include_input=False, include_url=False):
        reason = _REASONS.get(item["type"], item["msg"])
        if item["loc"] and item["loc"][-1] == "[key]":
            reason = f"key: {reason}"
        fields.append({"field": field_path(item["loc"]), "reason": reason, "type": item["type"]})
    return fields


def validation_failed(fields: list[dict[str, str]], message: str = "the body is not valid") -> ValidationFailedError:
    return ValidationFailedError(f"{message}: {', '.join(f['field'] for f in fields)}", details={"fields": fields})


def parse_model(model: type[ModelT], document: Any, *, what: str = "the body") -> ModelT:
    """`model` from a decoded JSON document, or ValidationFailedError naming every bad field."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise validation_failed(field_errors(error), f"{what} is not valid") from None
