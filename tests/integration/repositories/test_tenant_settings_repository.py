import pytest

from qbsync.errors import ConflictError
from qbsync.models.tenant_settings import TenantSettings
from qbsync.repositories.tenant_settings import TenantSettingsRepository


@pytest.fixture
def repo(template_table):
    return TenantSettingsRepository(table_name="c", dynamodb=template_table("ConnectionsTable", "c"))


def test_defaults_until_written_then_versioned(repo):
    assert repo.get("loc_1").version == 0
    assert repo.get("loc_1").settings == TenantSettings()
    written = repo.put("loc_1", TenantSettings(frequency="hourly"), expected_version=0)
    assert written.version == 1 and written.etag == '"v1"'
    assert repo.get("loc_1").settings.frequency == "hourly"
    assert repo.get("loc_2").version == 0  # per tenant


def test_a_stale_version_loses(repo):
    repo.put("loc_1", TenantSettings(frequency="daily"), expected_version=0)
    with pytest.raises(ConflictError):
        repo.put("loc_1", TenantSettings(frequency="weekly"), expected_version=0)
    repo.put("loc_1", TenantSettings(frequency="weekly"), expected_version=1)
    with pytest.raises(ConflictError):
        repo.put("loc_1", TenantSettings(frequency="5m"), expected_version=1)
    assert repo.get("loc_1").settings.frequency == "weekly"
