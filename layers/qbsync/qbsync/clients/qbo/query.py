"""QBO query statements, built so that no value can change the statement (QBO.md §2.4, §8.5).

A string literal is quoted with `'` and has `\\` and `'` backslash-escaped, backslash first: an unescaped
backslash lets a customer name inject a clause. `%` is kept as it is: it is only special inside LIKE, and
QBO has no way to escape it there. Emoji and other non-ASCII characters are sent as they are (UTF-8, minor
version 65 and later read them). The client URL-encodes the whole statement; nothing here encodes for URLs.

Property names and operators are checked against QBO's grammar rather than escaped: they come from code,
and a bad one is a bug to surface, not a value to smuggle through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

MAX_PAGE_SIZE = 1000  # MAXRESULTS above 1000 is not documented (QBO.md §2.4)
OPERATORS = frozenset({"=", "<", ">", "<=", ">=", "IN", "LIKE"})
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")
_ENTITY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")

# (property, operator, value), e.g. ("DisplayName", "=", "Adam's"), ("Id", "IN", ["1", "2"]).
Condition = tuple[str, str, Any]


def quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def literal(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a number QBO reads: {value}")
        return format(value, "f")
    if isinstance(value, datetime):
        # A naive time would be read in the company's zone, which we do not know (QBO.md §8.8).
        if value.tzinfo is None:
            raise ValueError("query datetimes need a UTC offset")
        return quote(value.isoformat())
    if isinstance(value, date):
        return quote(value.isoformat())
    raise TypeError(f"no QBO literal for {type(value).__name__}")


def _checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a QBO property name: {name!r}")
    return name


def checked_entity(entity: str) -> str:
    if not _ENTITY.match(entity):
        raise ValueError(f"not a QBO entity name: {entity!r}")
    return entity


def condition(prop: str, operator: str, value: Any) -> str:
    op = operator.strip().upper()
    if op not in OPERATORS:
        raise ValueError(f"not a QBO query operator: {operator!r}")
    if op == "IN":
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise TypeError("IN takes a sequence of values")
        values = [literal(item) for item in value]
        if not values:
            raise ValueError("IN needs at least one value")
        return f"{_checked_name(prop)} IN ({', '.join(values)})"
    return f"{_checked_name(prop)} {op} {literal(value)}"


def _where(conditions: Sequence[Condition]) -> str:
    # QBO has no OR: conditions are always AND-ed (QBO.md §2.4).
    rendered = [condition(*item) for item in conditions]
    return f" WHERE {' AND '.join(rendered)}" if rendered else ""


def select(
    entity: str,
    *,
    conditions: Sequence[Condition] = (),
    order_by: str | None = None,
    descending: bool = False,
    start_position: int | None = None,
    max_results: int | None = None,
) -> str:
    statement = f"SELECT * FROM {checked_entity(entity)}{_where(conditions)}"
    if order_by:
        statement += f" ORDERBY {_checked_name(order_by)}{' DESC' if descending else ''}"
    if start_position is not None:
        if start_position < 1:
            raise ValueError("STARTPOSITION is 1-based")
        statement += f" STARTPOSITION {int(start_position)}"
    if max_results is not None:
        if not 1 <= max_results <= MAX_PAGE_SIZE:
            raise ValueError(f"MAXRESULTS must be between 1 and {MAX_PAGE_SIZE}")
        statement += f" MAXRESULTS {int(max_results)}"
    return statement


def count(entity: str, *, conditions: Sequence[Condition] = ()) -> str:
    return f"SELECT COUNT(*) FROM {checked_entity(entity)}{_where(conditions)}"


def entities_in(query_response: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of a `QueryResponse`: the one list in it (absent when nothing matched)."""
    for value in query_response.values():
        if isinstance(value, list):
            return value
    return []
