"""Standard Webhooks v1: the published test vector, rotation, tolerance, and every refusal code."""

import base64

import pytest

from qbsync.errors import UnauthorizedError
from qbsync.signatures.standard_webhooks import (
    InvalidSecretError,
    InvalidSignatureError,
    MissingSignatureHeadersError,
    TimestampOutOfToleranceError,
    decode_secret,
    sign,
    signature_headers,
    verify,
)

# The reference vector of the Standard Webhooks test suites (also Svix's documentation example).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()


def vector_headers(**overrides: str) -> dict[str, str]:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
               "webhook-signature": VECTOR_SIGNATURE}
    headers.update(overrides)
    return headers


def test_sign_reproduces_the_reference_vector():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_verify_accepts_the_reference_vector():
    verify([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_header_names_are_case_insensitive():
    headers = {"Webhook-Id": VECTOR_ID, "WEBHOOK-TIMESTAMP": str(VECTOR_TIMESTAMP),
               "Webhook-Signature": VECTOR_SIGNATURE}
    verify([VECTOR_SECRET], headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_any_of_several_signatures_in_the_header_may_match():
    # Given a sender rotating its secret: an old signature, an unknown version and the current one
    header = f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,somethingasymmetric {VECTOR_SIGNATURE}"
    headers = vector_headers(**{"webhook-signature": header})
    verify([VECTOR_SECRET], headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_any_of_several_accepted_secrets_may_match():
    # Given the receiver rotating: it accepts the new secret and still the old one
    verify([OTHER_SECRET, VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_signature_headers_signs_with_every_secret_and_each_verifies_alone():
    headers = signature_headers([VECTOR_SECRET, OTHER_SECRET], "msg_1", 1700000000, b"{}")
    assert len(headers["webhook-signature"].split()) == 2
    verify([VECTOR_SECRET], headers, b"{}", now=1700000000)
    verify([OTHER_SECRET], headers, b"{}", now=1700000000)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing):
    headers = vector_headers()
    del headers[missing]
    with pytest.raises(MissingSignatureHeadersError) as caught:
        verify([VECTOR_SECRET], headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)
    assert caught.value.code == "missing_signature_headers"


@pytest.mark.parametrize("timestamp", ["", "  ", "16142653.30", "-1614265330", "1614265330abc", "１２３"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(timestamp):
    with pytest.raises(MissingSignatureHeadersError):
        verify([VECTOR_SECRET], vector_headers(**{"webhook-timestamp": timestamp}), VECTOR_BODY,
               now=VECTOR_TIMESTAMP)


def test_two_spellings_of_one_header_with_different_values_are_refused():
    headers = {**vector_headers(), "Webhook-Id": "msg_other"}
    with pytest.raises(MissingSignatureHeadersError):
        verify([VECTOR_SECRET], headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_five_minutes_either_way_are_accepted(offset):
    verify([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP + offset)


@pytest.mark.parametrize("offset", [-301, 301, 86400])
def test_timestamps_more_than_five_minutes_off_are_refused(offset):
    with pytest.raises(TimestampOutOfToleranceError) as caught:
        verify([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP + offset)
    assert caught.value.code == "timestamp_out_of_tolerance"


def test_the_tolerance_is_a_parameter():
    with pytest.raises(TimestampOutOfToleranceError):
        verify([VECTOR_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP + 11,
               tolerance_seconds=10)


@pytest.mark.parametrize("change", [
    {"body": VECTOR_BODY + b" "},
    {"webhook-id": "msg_other"},
    {"webhook-signature": "v1," + base64.b64encode(b"\0" * 32).decode()},
    {"webhook-signature": "v2," + VECTOR_SIGNATURE[3:]},
    {"webhook-signature": VECTOR_SIGNATURE[3:]},
    {"webhook-signature": "v1,é€ non-ascii"},
])
def test_anything_else_is_an_invalid_signature(change):
    body = change.pop("body", VECTOR_BODY)
    with pytest.raises(InvalidSignatureError) as caught:
        verify([VECTOR_SECRET], vector_headers(**change), body, now=VECTOR_TIMESTAMP)
    assert caught.value.code == "invalid_signature"


def test_a_timestamp_changed_after_signing_fails_even_within_tolerance():
    headers = vector_headers(**{"webhook-timestamp": str(VECTOR_TIMESTAMP + 1)})
    with pytest.raises(InvalidSignatureError):
        verify([VECTOR_SECRET], headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_the_wrong_secret_is_an_invalid_signature():
    with pytest.raises(InvalidSignatureError):
        verify([OTHER_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize("secret", [
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_abc",
])
def test_a_malformed_secret_is_an_invalid_secret(secret):
    with pytest.raises(InvalidSecretError) as caught:
        decode_secret(secret)
    assert caught.value.code == "invalid_secret"
    with pytest.raises(InvalidSecretError):
        verify([secret], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_no_secret_at_all_is_an_invalid_secret():
    with pytest.raises(InvalidSecretError):
        verify([], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_the_secret_is_the_decoded_bytes_after_the_prefix():
    assert decode_secret("whsec_" + base64.b64encode(b"key").decode()) == b"key"


def test_refusals_are_401_and_never_echo_the_secret_or_signature():
    with pytest.raises(UnauthorizedError) as caught:
        verify([OTHER_SECRET], vector_headers(), VECTOR_BODY, now=VECTOR_TIMESTAMP)
    body = str(caught.value.to_body())
    assert caught.value.http_status == 401
    for secret_material in (OTHER_SECRET, OTHER_SECRET[6:], VECTOR_SIGNATURE[3:], VECTOR_BODY.decode()):
        assert secret_material not in body
        assert secret_material not in str(caught.value)
