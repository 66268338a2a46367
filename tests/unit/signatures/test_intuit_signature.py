"""`intuit-signature`: base64 HMAC-SHA256 of the raw body keyed with the verifier token (QBO.md vector)."""

import pytest

from qbsync.signatures.intuit import intuit_signature, verify_intuit_signature

TOKEN = "12345"
BODY = b"abcd"
SIGNATURE = "gfTuE5fLxnstOq8ln4LNWZfn24cg8FVB6PBv455lfzg="


def test_the_published_vector():
    assert intuit_signature(TOKEN, BODY) == SIGNATURE


def test_the_right_signature_verifies():
    assert verify_intuit_signature(TOKEN, SIGNATURE, BODY) is True


@pytest.mark.parametrize("header, body", [
    (SIGNATURE, b"abcde"),                      # body changed
    (intuit_signature("54321", BODY), BODY),    # another app's token
    ("", BODY),
    (None, BODY),
    ("gfTuE5fLxnstOq8ln4LNWZfn24cg8FVB6PBv455lfzg", BODY),  # padding lost
    ("ünïcode", BODY),                          # must not raise TypeError in compare_digest
])
def test_anything_else_does_not(header, body):
    assert verify_intuit_signature(TOKEN, header, body) is False


def test_surrounding_whitespace_in_the_header_is_tolerated():
    assert verify_intuit_signature(TOKEN, f" {SIGNATURE}\n", BODY) is True


def test_an_unset_token_is_a_configuration_error_not_a_pass():
    with pytest.raises(ValueError):
        verify_intuit_signature("", intuit_signature("", BODY), BODY)
