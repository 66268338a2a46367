"""JSON for the QBO wire: amounts stay exact both ways (QBO.md §2.3, §8.9).

Reading: floats parse as `Decimal` (`parse_float=Decimal`); whole numbers stay `int`, which is exact too.
Writing: a `Decimal` goes out as a JSON *number* with its exact digits (`Decimal("10.50")` → `10.50`): QBO
wants numbers, not the strings `qbsync.utils.jsonio` writes for our own API. A float is refused: money that
reached us as a float has already been rounded somewhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def loads(body: bytes | str) -> Any:
    return json.loads(body, parse_float=Decimal)


def _encode(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, (bool, str)):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a JSON number: {value}")
        # Fixed-point keeps every digit and never writes an exponent QBO might not read.
        out.append(format(value, "f"))
    elif isinstance(value, float):
        raise TypeError("floats are not sent to QBO; use Decimal for amounts and quantities")
    elif isinstance(value, (datetime, date)):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            if index:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"not JSON serialisable for QBO: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """UTF-8 JSON (QBO requires UTF-8, QBO.md §2.3)."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
