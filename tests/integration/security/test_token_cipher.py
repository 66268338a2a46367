"""Tokens encrypted with the token key decrypt only for the tenant, realm and purpose they were stored for."""

import boto3
import pytest
from moto import mock_aws

from qbsync.security.token_cipher import TokenCipher, TokenCipherError


@pytest.fixture
def cipher():
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key(Description="tokens")["KeyMetadata"]["Arn"]
        yield TokenCipher(key_id=key_id, kms=kms)


def test_round_trip_and_ciphertext_hides_the_token(cipher):
    token = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..secret-refresh-token"
    blob = cipher.encrypt(token, tenant_id="loc_1", realm_id="9130", purpose="refresh_token")
    assert token.encode() not in blob
    assert cipher.decrypt(blob, tenant_id="loc_1", realm_id="9130", purpose="refresh_token") == token


@pytest.mark.parametrize("tenant_id, realm_id, purpose", [
    ("loc_2", "9130", "refresh_token"),   # another tenant
    ("loc_1", "9999", "refresh_token"),   # another company
    ("loc_1", "9130", "access_token"),    # another purpose
])
def test_ciphertext_moved_to_another_context_does_not_decrypt(cipher, tenant_id, realm_id, purpose):
    blob = cipher.encrypt("rt-1", tenant_id="loc_1", realm_id="9130", purpose="refresh_token")
    with pytest.raises(TokenCipherError) as error:
        cipher.decrypt(blob, tenant_id=tenant_id, realm_id=realm_id, purpose=purpose)
    assert "rt-1" not in str(error.value)


def test_oversized_token_is_refused_before_kms(cipher):
    with pytest.raises(TokenCipherError):
        cipher.encrypt("x" * 5000, tenant_id="loc_1", realm_id="9130", purpose="access_token")
