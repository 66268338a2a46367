"""Every error body the emulator sends, in the shapes QBO uses (QBO.md §6).

Three shapes exist and a client has to handle all of them:
- the data-service `Fault` (capitalised keys, `code` as a string) for validation and system errors;
- the gateway's lower-case `fault` for 401/403 (auth happens before the data service sees the call);
- an XML `IntuitResponse` for 429, even when JSON was asked for.
"""

from __future__ import annotations

from typing import Any


class QboFault(Exception):
    """A data-service error: rendered as {"Fault": {"Error": [...], "type": ...}}."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        *,
        http_status: int = 400,
        fault_type: str = "ValidationFault",
        element: str = "",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.http_status = http_status
        self.fault_type = fault_type
        self.element = element

    def fault(self) -> dict[str, Any]:
        return {
            "Error": [
                {"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}
            ],
            "type": self.fault_type,
        }


def object_not_found(detail: str | None = None) -> QboFault:
    return QboFault(
        "610",
        "Object Not Found",
        detail
        or "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees.",
    )


def invalid_reference(what: str, value: object, element: str = "") -> QboFault:
    return QboFault(
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : {what} with Id={value} does not exist",
        element=element,
    )


def inactive_reference(what: str, value: object, element: str = "") -> QboFault:
    return QboFault(
        "610",
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive. "
        f"Check the fields with accounts, customers, items, vendors or employees. ({what} Id={value})",
        element=element,
    )


def required_param(name: str) -> QboFault:
    return QboFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element=name,
    )


def string_length(name: str, maximum: int, supplied: int) -> QboFault:
    return QboFault(
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{maximum} supported. "
        f"Supplied length:{supplied}",
        element=name,
    )


def invalid_enum(name: str, value: object) -> QboFault:
    return QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element=name)


def unknown_property(name: str, entity: str) -> QboFault:
    return QboFault(
        "2010",
        "Request has invalid or unsupported property",
        f'Property Name:Unrecognized field "{name}" (class com.intuit.schema.finance.v3.{entity}), '
        "not marked as ignorable specified is unsupported or invalid",
        element=name,
    )


def malformed_request(detail: str) -> QboFault:
    return QboFault(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{detail} specified is unsupported or invalid",
    )


def malformed_bytes(detail: str) -> QboFault:
    return QboFault("500", "Unsupported Operation", f"Unsupported Operation : {detail}")


def stale_object() -> QboFault:
    return QboFault(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and root were working on this at the same time. "
        "root finished before you did, so your work was not saved.",
    )


def duplicate_name(existing_id: str) -> QboFault:
    return QboFault(
        "6240", "Duplicate Name Exists Error", f"The name supplied already exists. : Id={existing_id}"
    )


def duplicate_doc_number(doc_number: str, txn_type: str, txn_id: str) -> QboFault:
    return QboFault(
        "6140",
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number has already "
        f"been used. DocNumber={doc_number} is assigned to TxnType={txn_type} with TxnId={txn_id}",
    )


def business_error(detail: str, *, element: str = "") -> QboFault:
    return QboFault(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def unsupported_operation(detail: str) -> QboFault:
    return QboFault("500", "Unsupported Operation", f"Operation {detail} is not supported.")


def query_parse_error(detail: str) -> QboFault:
    return QboFault("4000", "Error parsing query", f"QueryParserError: {detail}")


def query_invalid(detail: str) -> QboFault:
    return QboFault("4001", "Invalid query", f"QueryValidationError: {detail}")


def system_failure() -> QboFault:
    return QboFault(
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your data. "
        "Please wait a few minutes and try again. If the problem persists, contact customer support.",
        http_status=500,
        fault_type="SystemFault",
    )


def batch_too_large(size: int, limit: int) -> QboFault:
    return QboFault(
        "1040",
        "Batch size exceeds allowed limit",
        f"Batch size {size} exceeds the allowed limit of {limit} BatchItemRequests",
    )


class GatewayError(Exception):
    """A 401/403 from the API gateway, rendered in the lower-case `fault` shape."""

    def __init__(self, http_status: int, code: str, name: str, detail: str, fault_type: str) -> None:
        super().__init__(f"{http_status} {name}: {detail}")
        self.http_status = http_status
        self.code = code
        self.name = name
        self.detail = detail
        self.fault_type = fault_type

    def body(self, epoch_millis: int) -> dict[str, Any]:
        return {
            "warnings": None,
            "intuitObject": None,
            "fault": {
                "error": [
                    {
                        "message": f"message={self.name}; errorCode=00{self.code}; statusCode={self.http_status}",
                        "detail": self.detail,
                        "code": self.code,
                        "element": None,
                    }
                ],
                "type": self.fault_type,
            },
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": epoch_millis,
            "status": None,
            "cdcresponse": [],
        }


def authentication_failed(detail: str) -> GatewayError:
    return GatewayError(401, "3200", "AuthenticationFailed", detail, "AUTHENTICATION")


def authorization_failed(detail: str) -> GatewayError:
    return GatewayError(403, "3100", "ApplicationAuthorizationFailed", detail, "SERVICE")


def throttle_xml(time_text: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time_text}">'
        '<Fault type="SERVICE"><Error code="3001">'
        "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
        "<Detail>The request limit was reached.  Try again later</Detail>"
        "</Error></Fault></IntuitResponse>"
    )


class OAuthError(Exception):
    """An OAuth token-endpoint error: {"error": ..., "error_description": ...}."""

    def __init__(self, error: str, description: str, http_status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.http_status = http_status
