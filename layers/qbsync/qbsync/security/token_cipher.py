"""OAuth tokens are encrypted with the stack's token KMS key before they reach DynamoDB.

The encryption context binds each ciphertext to its tenant, realm and purpose: a token copied into another
tenant's item (a bug, or an attacker with table access) does not decrypt there. Tokens are small (Intuit's
are well under KMS's 4 KB plaintext limit), so KMS Encrypt is used directly; no envelope key or crypto
library is needed in the Lambda package.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError

from qbsync.aws_clients import client
from qbsync.errors import QbsyncError

KMS_MAX_PLAINTEXT_BYTES = 4096
TokenPurpose = Literal["access_token", "refresh_token"]


class TokenCipherError(QbsyncError):
    code = "token_cipher_error"
    http_status = 500


class TokenCipher:
    def __init__(self, *, key_id: str, kms: Any | None = None) -> None:
        self._key_id = key_id
        self._kms = kms

    def _client(self) -> Any:
        return self._kms or client("kms")

    @staticmethod
    def _context(tenant_id: str, realm_id: str, purpose: TokenPurpose) -> dict[str, str]:
        return {"qbsync:tenant_id": tenant_id, "qbsync:realm_id": realm_id, "qbsync:purpose": purpose}

    def encrypt(self, token: str, *, tenant_id: str, realm_id: str, purpose: TokenPurpose) -> bytes:
        plaintext = token.encode("utf-8")
        if len(plaintext) > KMS_MAX_PLAINTEXT_BYTES:
            raise TokenCipherError(f"the {purpose} is longer than KMS can encrypt directly")
        response = self._client().encrypt(
            KeyId=self._key_id, Plaintext=plaintext,
            EncryptionContext=self._context(tenant_id, realm_id, purpose),
        )
        return response["CiphertextBlob"]

    def decrypt(self, ciphertext: bytes, *, tenant_id: str, realm_id: str, purpose: TokenPurpose) -> str:
        try:
            response = self._client().decrypt(
                KeyId=self._key_id, CiphertextBlob=ciphertext,
                EncryptionContext=self._context(tenant_id, realm_id, purpose),
            )
        except ClientError as error:
            # Never include the ciphertext or KMS's message: report only which token failed.
            raise TokenCipherError(f"the stored {purpose} cannot be decrypted for this connection") from error
        return response["Plaintext"].decode("utf-8")
