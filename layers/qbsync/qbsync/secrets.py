"""Secret values, read from Secrets Manager by the ARNs in settings (Powertools parameters, cached).

Values are `SecretStr`, so a model dump, a repr or a log line never shows them. The cache lives for
`SECRET_MAX_AGE_SECONDS`, so a rotated CRM signing secret (README, "rotating secrets") is picked up
within minutes without a redeploy.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ConfigDict, SecretStr

from qbsync.errors import QbsyncError
from qbsync.settings import Settings

SECRET_MAX_AGE_SECONDS = 300


class SecretUnavailableError(QbsyncError):
    """A secret is missing or malformed: a deployment problem, retried (the operator may be fixing it)."""

    code = "secret_unavailable"
    http_status = 503
    retryable = True


class IntuitCredentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    client_id: str
    client_secret: SecretStr
    verifier_token: SecretStr = SecretStr("")


class CrmSecrets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    inbound: tuple[SecretStr, ...] = ()
    outbound: SecretStr

    def inbound_values(self) -> list[str]:
        return [secret.get_secret_value() for secret in self.inbound]


class ApiKeyDigest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    api_key_sha256: SecretStr


def _load(arn: str | None, name: str) -> dict[str, Any]:
    if not arn:
        raise SecretUnavailableError(f"the {name} secret is not configured")
    try:
        value = parameters.get_secret(arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except parameters.exceptions.GetParameterError as error:
        raise SecretUnavailableError(f"the {name} secret cannot be read") from error
    except parameters.exceptions.TransformParameterError as error:
        raise SecretUnavailableError(f"the {name} secret is not JSON") from error
    if not isinstance(value, dict):
        raise SecretUnavailableError(f"the {name} secret is not a JSON object")
    return value


def _validated(model: type[BaseModel], value: dict[str, Any], name: str) -> Any:
    try:
        return model.model_validate(value)
    except ValueError as error:
        # Never echo the pydantic error: it quotes the input, i.e. the secret.
        raise SecretUnavailableError(f"the {name} secret lacks required fields") from error


def intuit_credentials(settings: Settings) -> IntuitCredentials:
    return _validated(IntuitCredentials, _load(settings.intuit_secret_arn, "Intuit"), "Intuit")


def crm_secrets(settings: Settings) -> CrmSecrets:
    return _validated(CrmSecrets, _load(settings.crm_secrets_arn, "CRM"), "CRM")


def api_key_digest(settings: Settings) -> ApiKeyDigest:
    return _validated(ApiKeyDigest, _load(settings.api_key_secret_arn, "API key"), "API key")


def clear_cache() -> None:
    parameters.clear_caches()
