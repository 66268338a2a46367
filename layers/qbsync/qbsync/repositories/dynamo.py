"""Small helpers shared by the repositories: typed (de)serialisation and the conflict translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from qbsync.errors import ConflictError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def to_values(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    plain = {key: _deserializer.deserialize(value) for key, value in item.items()}
    return {key: bytes(value) if isinstance(value, Binary) else value for key, value in plain.items()}


def is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException", "TransactionCanceledException")


@contextmanager
def conflict_on_condition(message: str, **details: Any) -> Iterator[None]:
    """Turn DynamoDB's ConditionalCheckFailed into our ConflictError (STYLE.md principle 4)."""
    try:
        yield
    except ClientError as error:
        if is_conditional_failure(error):
            raise ConflictError(message, details=details or None) from None
        raise
