"""What the local stack reads from the environment, with embedded defaults so `make run` needs nothing.

Every variable is documented in README "Running locally". The defaults are development values, published on
purpose so that the README's curl examples work; never use them anywhere real.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field

DEFAULT_CRM_INBOUND_SECRET = "whsec_" + base64.b64encode(b"qbsync-local-crm-inbound-secret!").decode()
DEFAULT_CRM_OUTBOUND_SECRET = "whsec_" + base64.b64encode(b"qbsync-local-crm-outbound-secret").decode()
DEFAULT_API_KEY = "qbsync-local-api-key"
DEFAULT_INTUIT_CLIENT_ID = "qbsync-local-client"
DEFAULT_INTUIT_CLIENT_SECRET = "qbsync-local-client-secret"
DEFAULT_VERIFIER_TOKEN = "qbsync-local-verifier-token"


def _env(environ: dict[str, str], name: str, default: str = "") -> str:
    value = environ.get(name, "")
    return value if value != "" else default


@dataclass(frozen=True)
class LocalConfig:
    api_port: int = 3000
    moto_port: int = 0  # 0 = any free port
    qbo_emulator_port: int = 0
    crm_emulator_port: int = 0
    public_url: str = ""
    # External services: empty = start our emulator and point qbsync at it.
    intuit_auth_url: str = ""
    intuit_token_url: str = ""
    intuit_revoke_url: str = ""
    qbo_api_url: str = ""
    crm_base_url: str = ""
    intuit_environment: str = "sandbox"
    intuit_client_id: str = DEFAULT_INTUIT_CLIENT_ID
    intuit_client_secret: str = DEFAULT_INTUIT_CLIENT_SECRET
    intuit_verifier_token: str = DEFAULT_VERIFIER_TOKEN
    crm_webhook_secrets: tuple[str, ...] = (DEFAULT_CRM_INBOUND_SECRET,)
    crm_outbound_secret: str = DEFAULT_CRM_OUTBOUND_SECRET
    api_key: str = DEFAULT_API_KEY
    return_url_allowlist: str = "http://127.0.0.1,http://localhost"
    poll_interval_seconds: int = 300
    # Local speed-ups (Lambda and EventBridge would take longer): see README.
    schedule_speedup: float = 1.0
    retry_delay_seconds: float = 2.0
    function_concurrency: int = 4
    queue_pollers: int = 2
    log_level: str = "INFO"
    extra_parameters: dict[str, str] = field(default_factory=dict)

    @property
    def uses_qbo_emulator(self) -> bool:
        return not self.qbo_api_url

    @property
    def uses_crm_emulator(self) -> bool:
        return not self.crm_base_url

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> "LocalConfig":
        env = dict(os.environ if environ is None else environ)
        secrets = _env(env, "QBSYNC_CRM_WEBHOOK_SECRETS", DEFAULT_CRM_INBOUND_SECRET)
        return cls(
            api_port=int(_env(env, "QBSYNC_API_PORT", "3000")),
            moto_port=int(_env(env, "QBSYNC_MOTO_PORT", "0")),
            qbo_emulator_port=int(_env(env, "QBSYNC_QBO_EMULATOR_PORT", "0")),
            crm_emulator_port=int(_env(env, "QBSYNC_CRM_EMULATOR_PORT", "0")),
            public_url=_env(env, "QBSYNC_PUBLIC_URL"),
            intuit_auth_url=_env(env, "QBSYNC_INTUIT_AUTH_URL"),
            intuit_token_url=_env(env, "QBSYNC_INTUIT_TOKEN_URL"),
            intuit_revoke_url=_env(env, "QBSYNC_INTUIT_REVOKE_URL"),
            qbo_api_url=_env(env, "QBSYNC_QBO_API_URL"),
            crm_base_url=_env(env, "QBSYNC_CRM_BASE_URL"),
            intuit_environment=_env(env, "QBSYNC_INTUIT_ENVIRONMENT", "sandbox"),
            intuit_client_id=_env(env, "QBSYNC_INTUIT_CLIENT_ID", DEFAULT_INTUIT_CLIENT_ID),
            intuit_client_secret=_env(env, "QBSYNC_INTUIT_CLIENT_SECRET", DEFAULT_INTUIT_CLIENT_SECRET),
            intuit_verifier_token=_env(env, "QBSYNC_INTUIT_VERIFIER_TOKEN", DEFAULT_VERIFIER_TOKEN),
            crm_webhook_secrets=tuple(s.strip() for s in secrets.split(",") if s.strip()),
            crm_outbound_secret=_env(env, "QBSYNC_CRM_OUTBOUND_SECRET", DEFAULT_CRM_OUTBOUND_SECRET),
            api_key=_env(env, "QBSYNC_API_KEY", DEFAULT_API_KEY),
            return_url_allowlist=_env(env, "QBSYNC_RETURN_URL_ALLOWLIST", "http://127.0.0.1,http://localhost"),
            poll_interval_seconds=int(_env(env, "QBSYNC_POLL_INTERVAL_SECONDS", "300")),
            schedule_speedup=float(_env(env, "QBSYNC_SCHEDULE_SPEEDUP", "1")),
            retry_delay_seconds=float(_env(env, "QBSYNC_LOCAL_RETRY_DELAY_SECONDS", "2")),
            function_concurrency=int(_env(env, "QBSYNC_LOCAL_FUNCTION_CONCURRENCY", "4")),
            queue_pollers=int(_env(env, "QBSYNC_LOCAL_QUEUE_POLLERS", "2")),
            log_level=_env(env, "QBSYNC_LOG_LEVEL", "INFO"),
        )
