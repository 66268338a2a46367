"""JSON with exact money both ways.

QBO sends amounts as JSON numbers (362.07), so we parse floats as Decimal and write Decimals back as
bare numbers. The standard encoder cannot emit a Decimal as a number without going through float, so
the encoder here is a small hand-written one.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


class MalformedJson(ValueError):
    """The body is not UTF-8 JSON."""


def _reject_constant(name: str) -> Any:
    raise MalformedJson(f"unsupported JSON constant {name}")


def loads(raw: bytes | str) -> Any:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJson(f"MalformedByteSequenceException: {exc}") from exc
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedJson(str(exc)) from exc


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError("non-finite Decimal")
    if value == 0:
        value = abs(value)  # never write -0.00
    return format(value, "f")


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        out.append(_number(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(repr(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
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
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    out: list[str] = []
    _encode(value, out)
    return "".join(out)
