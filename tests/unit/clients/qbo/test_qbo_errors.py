"""Every body QBO and Intuit OAuth send for a failure lands in the right error class (QBO.md §6, §8.2)."""

from __future__ import annotations

import json

import pytest
from qbsync.clients.qbo.errors import (
    QboAuthError,
    QboDuplicateDocNumberError,
    QboDuplicateNameError,
    QboError,
    QboInvalidGrantError,
    QboNotFoundError,
    QboQueryError,
    QboServerError,
    QboStaleObjectError,
    QboThrottledError,
    QboValidationError,
    error_from_fault,
    error_from_response,
)
from qbsync.errors import RetryableError, UpstreamError
from requests.structures import CaseInsensitiveDict

TID = {"intuit_tid": "1-5f8e7c2a-7d6e1b2c3d4e5f6a7b8c9d0e"}


def headers(**extra: str) -> CaseInsensitiveDict:
    return CaseInsensitiveDict({**TID, **extra})


def data_service_fault(
    code: str,
    message: str = "msg",
    detail: str = "detail",
    fault_type: str = "ValidationFault",
) -> bytes:
    return json.dumps(
        {
            "Fault": {
                "Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
                "type": fault_type,
            },
            "time": "2015-07-24T10:33:39.11-07:00",
        }
    ).encode()


GATEWAY_401 = json.dumps(
    {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Malformed bearer token: too short or too long",
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": 1633520295688,
        "status": None,
        "cdcresponse": [],
    }
).encode()

GATEWAY_403 = json.dumps(
    {
        "fault": {
            "error": [
                {
                    "message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                    "detail": "",
                    "element": None,
                }
            ],
            "type": "SERVICE",
        },
        "time": 1633520295688,
    }
).encode()

XML_THROTTLE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2023-01-12T07:52:50.717-08:00">'
    b'<Fault type="SERVICE"><Error code="3001" element="">'
    b"<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
    b"<Detail>The request limit was reached.  Try again later</Detail>"
    b"</Error></Fault></IntuitResponse>"
)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("3200", 401, QboAuthError),
        ("3100", 403, QboAuthError),
        ("120", 401, QboAuthError),
        ("3201", 401, QboAuthError),
        ("3001", 429, QboThrottledError),
        ("5010", 400, QboStaleObjectError),
        ("6240", 400, QboDuplicateNameError),
        ("6140", 400, QboDuplicateDocNumberError),
        ("610", 400, QboNotFoundError),
        ("2020", 400, QboValidationError),
        ("2050", 400, QboValidationError),
        ("2170", 400, QboValidationError),
        ("2500", 400, QboValidationError),
        ("4000", 400, QboQueryError),
        ("4001", 400, QboQueryError),
        ("4002", 400, QboQueryError),
        ("6000", 400, QboValidationError),
        ("6210", 400, QboValidationError),
        ("6540", 400, QboValidationError),
        ("1040", 400, QboValidationError),
        ("10000", 500, QboServerError),
        ("10000", 400, QboServerError),
    ],
)
def test_each_documented_code_lands_in_its_class(code, status, expected):
    error = error_from_response(status, headers(), data_service_fault(code))

    assert type(error) is expected
    assert error.qbo_code == code
    assert error.upstream_status == status
    assert error.intuit_tid == TID["intuit_tid"]
    assert isinstance(error, UpstreamError)


@pytest.mark.parametrize("error_class", [QboThrottledError, QboServerError])
def test_throttling_and_server_errors_are_retryable_and_nothing_else_is(error_class):
    assert error_class.retryable and issubclass(error_class, RetryableError)
    for permanent in (
        QboAuthError,
        QboInvalidGrantError,
        QboStaleObjectError,
        QboDuplicateNameError,
        QboDuplicateDocNumberError,
        QboNotFoundError,
        QboValidationError,
        QboQueryError,
    ):
        assert not permanent.retryable and not issubclass(permanent, RetryableError)


def test_duplicate_name_carries_the_existing_id_from_detail():
    body = data_service_fault(
        "6240", "Duplicate Name Exists Error", "The name supplied already exists. : Id=123"
    )

    error = error_from_response(400, headers(), body)

    assert isinstance(error, QboDuplicateNameError)
    assert error.existing_id == "123"
    assert "Id=123" in error.qbo_detail


def test_duplicate_name_without_an_id_in_detail_has_none():
    body = data_service_fault(
        "6240",
        "Duplicate Name Exists Error",
        "Another customer, vendor or employee is already using this name.",
    )
    assert error_from_response(400, headers(), body).existing_id is None


def test_validation_keeps_qbos_detail_in_the_message():
    body = data_service_fault(
        "6000",
        "A business validation error has occurred while processing your request",
        "Business Validation Error: Amount is not equal to UnitPrice * Qty.",
    )

    error = error_from_response(400, headers(), body)

    assert isinstance(error, QboValidationError)
    assert "Amount is not equal to UnitPrice * Qty" in error.message
    assert error.to_body()["error"]["details"] == {
        "upstream_status": 400,
        "qbo_code": "6000",
        "intuit_tid": TID["intuit_tid"],
    }


def test_a_200_that_carries_a_fault_is_an_error():
    body = data_service_fault(
        "5010", "Stale Object Error", "You and Jane were working on this at the same time."
    )
    error = error_from_response(200, headers(), body)
    assert isinstance(error, QboStaleObjectError)
    assert error.upstream_status == 200


def test_a_200_without_a_fault_is_not_an_error():
    body = json.dumps(
        {"Invoice": {"Id": "1", "SyncToken": "0"}, "time": "2015-07-24T10:33:39-07:00"}
    ).encode()
    assert error_from_response(200, headers(), body) is None
    assert error_from_response(200, headers(), b"%PDF-1.4 binary") is None


def test_gateway_lower_case_401_is_an_auth_error_with_detail():
    error = error_from_response(401, headers(), GATEWAY_401)

    assert isinstance(error, QboAuthError)
    assert error.qbo_code == "3200"
    assert error.fault_type == "AUTHENTICATION"
    assert "Malformed bearer token" in error.qbo_detail
    assert error.intuit_tid == TID["intuit_tid"]


def test_gateway_code_only_inside_the_message_is_found():
    error = error_from_response(403, headers(), GATEWAY_403)
    assert isinstance(error, QboAuthError)
    assert error.qbo_code == "3100"


def test_xml_throttle_body_is_throttled_even_when_the_status_says_403():
    for status in (429, 403):
        error = error_from_response(status, headers(**{"Content-Type": "application/xml"}), XML_THROTTLE)
        assert isinstance(error, QboThrottledError)
        assert error.qbo_code == "3001"
        assert error.fault_type == "SERVICE"
        assert "request limit was reached" in error.qbo_detail


def test_xml_with_a_doctype_is_not_parsed():
    body = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Fault><Error code="3001"/></Fault>'
    error = error_from_response(500, headers(), body)
    assert isinstance(error, QboServerError)
    assert error.entries == ()


def test_status_alone_decides_when_the_body_says_nothing():
    assert isinstance(error_from_response(429, headers(), b""), QboThrottledError)
    assert isinstance(error_from_response(401, headers(), b""), QboAuthError)
    assert isinstance(error_from_response(404, headers(), b"Not Found"), QboNotFoundError)
    assert isinstance(
        error_from_response(503, headers(), b"<html>Service Unavailable</html>"), QboServerError
    )
    assert isinstance(error_from_response(400, headers(), b"bad"), QboValidationError)


def test_system_fault_type_is_a_server_error():
    body = data_service_fault("", "An application error has occurred", "", fault_type="SystemFault")
    assert isinstance(error_from_response(200, headers(), body), QboServerError)


def test_error_list_at_the_top_level_is_read():
    body = json.dumps(
        {
            "Error": [
                {
                    "Message": "Object Not Found",
                    "Detail": "Object Not Found : Something you're trying to use has been made inactive.",
                    "code": "610",
                }
            ]
        }
    ).encode()
    assert isinstance(error_from_response(400, headers(), body), QboNotFoundError)


@pytest.mark.parametrize("status", [400, 200])
def test_invalid_grant_is_detected_whatever_the_status(status):
    body = json.dumps(
        {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}
    ).encode()

    error = error_from_response(status, headers(), body)

    assert isinstance(error, QboInvalidGrantError)
    assert isinstance(error, QboAuthError)
    assert not error.retryable
    assert error.qbo_code == "invalid_grant"
    assert error.intuit_tid == TID["intuit_tid"]


def test_other_oauth_errors():
    invalid_client = json.dumps({"error": "invalid_client"}).encode()
    assert type(error_from_response(401, headers(), invalid_client)) is QboAuthError
    unavailable = json.dumps({"error": "temporarily_unavailable"}).encode()
    assert isinstance(error_from_response(503, headers(), unavailable), QboServerError)


def test_retry_after_seconds_is_kept_on_the_error():
    error = error_from_response(429, headers(**{"Retry-After": "17"}), XML_THROTTLE)
    assert error.retry_after == 17.0


def test_retry_after_http_date_is_read_against_now():
    error = error_from_response(
        429,
        headers(**{"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}),
        b"",
        now=1445412480.0,  # 07:28:00
    )
    assert error.retry_after == 30.0


def test_the_transaction_id_header_may_use_a_dash():
    error = error_from_response(500, CaseInsensitiveDict({"intuit-tid": "abc"}), b"")
    assert error.intuit_tid == "abc"


def test_a_batch_item_fault_is_classified_by_the_same_rules():
    fault = {
        "type": "ValidationFault",
        "Error": [
            {
                "Message": "Duplicate Name Exists Error",
                "Detail": "The name supplied already exists. : Id=7",
                "code": "6240",
                "element": "",
            }
        ],
    }

    error = error_from_fault(fault, upstream_status=None, intuit_tid="tid-1")

    assert isinstance(error, QboDuplicateNameError)
    assert error.existing_id == "7"
    assert error.intuit_tid == "tid-1"
    assert error.upstream_status is None


def test_the_message_never_holds_the_whole_body():
    long_detail = "x" * 10_000
    error = error_from_response(400, headers(), data_service_fault("6000", "m", long_detail))
    assert isinstance(error, QboError)
    assert len(error.message) < 1_000
