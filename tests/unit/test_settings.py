import pytest
from pydantic import ValidationError

from qbsync.settings import settings_from_environ

REQUIRED = {
    "QBSYNC_CONNECTIONS_TABLE": "c", "QBSYNC_MAPPINGS_TABLE": "m", "QBSYNC_IDEMPOTENCY_TABLE": "i",
    "QBSYNC_RATE_LIMIT_TABLE": "r", "QBSYNC_CRM_EVENTS_QUEUE_URL": "q1", "QBSYNC_CRM_EVENTS_DLQ_URL": "q2",
    "QBSYNC_POLL_JOBS_QUEUE_URL": "q3", "QBSYNC_POLL_JOBS_DLQ_URL": "q4", "QBSYNC_TOKEN_KEY_ID": "k",
}


def test_empty_template_parameters_mean_unset_and_allowlist_is_split():
    settings = settings_from_environ({
        **REQUIRED,
        "QBSYNC_PUBLIC_URL": "",
        "QBSYNC_CRM_SECRETS_ARN": "",
        "QBSYNC_RETURN_URL_ALLOWLIST": "https://crm.example.com/, http://localhost:8080",
        "QBSYNC_POLL_INTERVAL_SECONDS": "60",
        "UNRELATED": "ignored",
    })
    assert settings.public_url is None
    assert settings.crm_secrets_arn is None
    assert settings.return_url_allowlist == ("https://crm.example.com", "http://localhost:8080")
    assert settings.poll_interval_seconds == 60


def test_missing_table_name_fails_at_cold_start_naming_the_setting():
    environ = {k: v for k, v in REQUIRED.items() if k != "QBSYNC_MAPPINGS_TABLE"}
    with pytest.raises(ValidationError) as error:
        settings_from_environ(environ)
    assert "mappings_table" in str(error.value)


def test_bad_url_is_refused():
    with pytest.raises(ValidationError):
        settings_from_environ({**REQUIRED, "QBSYNC_QBO_API_URL": "not a url"})
