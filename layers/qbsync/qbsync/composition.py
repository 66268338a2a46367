"""The composition root: builds the objects a handler needs from settings and secrets.

Handlers call these and nothing else to get collaborators, so the wiring lives in one place and tests can
build the same objects with fakes. Collaborators are imported inside the builders: a handler pays only for
what it builds (the webhook ingest path never imports requests-oauthlib or the QBO client; bench/ measures
cold starts).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from qbsync.settings import Settings, get_settings

if TYPE_CHECKING:
    from qbsync.clients.crm.client import CrmClient
    from qbsync.clients.qbo.client import QboClient
    from qbsync.clients.qbo.oauth import IntuitOAuthClient
    from qbsync.models.crm_api import ConnectionUpdate
    from qbsync.queues.publisher import FifoPublisher
    from qbsync.queues.redrive import DeadLetterQueue
    from qbsync.repositories.connections import ConnectionsRepository
    from qbsync.repositories.mappings import MappingsRepository
    from qbsync.repositories.tenant_settings import TenantSettingsRepository
    from qbsync.repositories.rate_limiter import QboRateLimiter
    from qbsync.repositories.sync_stats import SyncStatsRepository
    from qbsync.repositories.webhook_dedupe import WebhookDeduplicator
    from qbsync.sync.connect_flow import ConnectFlow
    from qbsync.sync.connection_status import ConnectionStatusReporter
    from qbsync.sync.event_routing import TenantConnections
    from qbsync.sync.token_lifecycle import TokenLifecycle


class CrmConnectionNotifier:
    """ConnectionNotifier over the generic CRM REST contract."""

    def __init__(self, crm: CrmClient) -> None:
        self._crm = crm

    def connection_changed(self, tenant_id: str, update: ConnectionUpdate, *, idempotency_key: str) -> None:
        self._crm.put_connection(tenant_id, update, idempotency_key=idempotency_key)


def connections_repository(settings: Settings | None = None) -> ConnectionsRepository:
    from qbsync.repositories.connections import ConnectionsRepository

    return ConnectionsRepository(table_name=(settings or get_settings()).connections_table)


def tenant_settings_repository(settings: Settings | None = None) -> TenantSettingsRepository:
    from qbsync.repositories.tenant_settings import TenantSettingsRepository

    return TenantSettingsRepository(table_name=(settings or get_settings()).connections_table)


def mappings_repository(settings: Settings | None = None) -> MappingsRepository:
    from qbsync.repositories.mappings import MappingsRepository

    return MappingsRepository(table_name=(settings or get_settings()).mappings_table)


def rate_limiter(settings: Settings | None = None) -> QboRateLimiter:
    from qbsync.repositories.rate_limiter import QboRateLimiter

    return QboRateLimiter(table_name=(settings or get_settings()).rate_limit_table)


def crm_client(settings: Settings | None = None, *, max_retries: int = 4) -> CrmClient:
    from qbsync.clients.crm.client import CrmClient
    from qbsync.secrets import crm_secrets

    settings = settings or get_settings()
    if settings.crm_base_url is None:
        raise RuntimeError("QBSYNC_CRM_BASE_URL is not set")
    return CrmClient(str(settings.crm_base_url).rstrip("/"), crm_secrets(settings).outbound.get_secret_value(),
                     max_retries=max_retries)


def oauth_client(redirect_uri: str, settings: Settings | None = None) -> IntuitOAuthClient:
    from qbsync.clients.qbo.oauth import IntuitOAuthClient
    from qbsync.secrets import intuit_credentials

    settings = settings or get_settings()
    credentials = intuit_credentials(settings)
    return IntuitOAuthClient(
        client_id=credentials.client_id,
        client_secret=credentials.client_secret.get_secret_value(),
        redirect_uri=redirect_uri,
        authorization_url=str(settings.intuit_auth_url),
        token_url=str(settings.intuit_token_url),
        revoke_url=str(settings.intuit_revoke_url),
    )


def qbo_api_base(settings: Settings) -> str:
    return str(settings.qbo_api_url).rstrip("/")


def status_reporter(settings: Settings | None = None, *, crm: CrmClient | None = None) -> ConnectionStatusReporter:
    from qbsync.sync.connection_status import ConnectionStatusReporter

    settings = settings or get_settings()
    return ConnectionStatusReporter(repository=connections_repository(settings),
                                    notifier=CrmConnectionNotifier(crm or crm_client(settings)))


def token_lifecycle(redirect_uri: str | None = None, settings: Settings | None = None, *,
                    crm: CrmClient | None = None) -> TokenLifecycle:
    """Token access for workers and the API. The redirect URI matters only for code exchange, which
    workers never do; without one, the public URL's callback stands in."""
    from qbsync.security.token_cipher import TokenCipher
    from qbsync.sync.token_lifecycle import TokenLifecycle

    settings = settings or get_settings()
    crm = crm or crm_client(settings)
    return TokenLifecycle(
        repository=connections_repository(settings),
        cipher=TokenCipher(key_id=settings.token_key_id),
        refresher=oauth_client(redirect_uri or f"{str(settings.public_url or 'https://localhost').rstrip('/')}"
                                               "/oauth/callback", settings),
        notifier=CrmConnectionNotifier(crm),
        status_reporter=status_reporter(settings, crm=crm),
    )


def qbo_client(tenant_id: str, realm_id: str, *, lifecycle: TokenLifecycle,
               settings: Settings | None = None) -> QboClient:
    """QBO for one connected company: tokens from the lifecycle, every call through the shared limiter."""
    from qbsync.clients.qbo.client import QboClient
    from qbsync.clients.qbo.retry import RetryPolicy
    from qbsync.sync.qbo_access import LifecycleSession

    settings = settings or get_settings()
    return QboClient(realm_id=realm_id, api_base_url=qbo_api_base(settings),
                     session=LifecycleSession(lifecycle, tenant_id=tenant_id, realm_id=realm_id),
                     limiter=rate_limiter(settings),
                     retry_policy=RetryPolicy(throttled_delay_seconds=settings.qbo_throttle_wait_seconds))


@lru_cache(maxsize=4)
def _deduplicator(table_name: str) -> WebhookDeduplicator:
    from qbsync.repositories.webhook_dedupe import WebhookDeduplicator

    return WebhookDeduplicator(table_name=table_name)


def webhook_deduplicator(settings: Settings | None = None) -> WebhookDeduplicator:
    return _deduplicator((settings or get_settings()).idempotency_table)


def crm_event_queue(settings: Settings | None = None) -> FifoPublisher:
    from qbsync.queues.publisher import FifoPublisher

    return FifoPublisher(queue_url=(settings or get_settings()).crm_events_queue_url)


@lru_cache(maxsize=4)
def _tenant_connections(table_name: str) -> TenantConnections:
    from qbsync.repositories.connections import ConnectionsRepository
    from qbsync.sync.event_routing import TenantConnections

    return TenantConnections(ConnectionsRepository(table_name=table_name))


def tenant_connections(settings: Settings | None = None) -> TenantConnections:
    """One per container (it holds the table's client)."""
    return _tenant_connections((settings or get_settings()).connections_table)


def connect_flow(redirect_uri: str, settings: Settings | None = None) -> ConnectFlow:
    from qbsync.clients.qbo.client import QboClient
    from qbsync.clients.qbo.retry import RetryPolicy
    from qbsync.clients.qbo.tokens import TokenSet
    from qbsync.models.connection_records import CompanyFacts
    from qbsync.secrets import crm_secrets
    from qbsync.sync.company_facts import company_facts
    from qbsync.sync.connect_flow import ConnectFlow

    settings = settings or get_settings()
    oauth = oauth_client(redirect_uri, settings)
    # A browser is waiting on these calls: one quick retry at most, never a long Retry-After.
    crm = crm_client(settings, max_retries=1)
    limiter = rate_limiter(settings)
    browser_retries = RetryPolicy(max_retries=2, max_backoff_seconds=1.0, max_sleep_seconds=5.0,
                                  throttled_delay_seconds=min(2.0, settings.qbo_throttle_wait_seconds))

    def read_company(realm_id: str, tokens: TokenSet) -> CompanyFacts:
        # Same bound for QBO: two short retries, a 429 waited out for at most 2 s and no Retry-After longer
        # than 5 s (API Gateway gives up on the browser at 30 s). A QBO that keeps throttling fails the
        # callback with a "connect again in a minute" page (ConnectFlow.complete) rather than a hung browser.
        qbo = QboClient(realm_id=realm_id, api_base_url=qbo_api_base(settings), session=oauth.api_session(tokens),
                        limiter=limiter, retry_policy=browser_retries)
        return company_facts(qbo.company_info(), qbo.preferences())

    return ConnectFlow(
        repository=connections_repository(settings),
        oauth=oauth,
        lifecycle=token_lifecycle(redirect_uri, settings, crm=crm),
        status_reporter=status_reporter(settings, crm=crm),
        read_company=read_company,
        link_secrets=crm_secrets(settings).inbound_values(),
        return_url_allowlist=settings.return_url_allowlist,
        on_connected=lambda tenant_id, realm_id: after_connect(tenant_id, realm_id, settings),
    )


def after_connect(tenant_id: str, realm_id: str, settings: Settings | None = None) -> None:
    """What follows a (re)connection: the backfill of existing customers and items (issue 6; a company that
    already has a watermark ignores it), and events dead-lettered with `needs_reauth` for this company go
    back to their queue (SPEC F2: nothing lost while the tenant reconnects)."""
    from qbsync.sync.failures import redrive_for_reason
    from qbsync.sync.poll.wiring import enqueue_backfill

    enqueue_backfill(tenant_id, realm_id, settings=settings)
    redrive_for_reason(tenant_id, "needs_reauth", realm_id=realm_id)


def crm_event_context_factory(settings: Settings | None = None):  # noqa: ANN201 - a ContextFactory
    """For the CRM events worker: builds each message's ApplyContext (connection, settings, QBO, CRM)."""
    from qbsync.models.queue_messages import CrmEventMessage
    from qbsync.sync.crm_events.worker import build_context

    settings = settings or get_settings()
    crm = crm_client(settings)
    lifecycle = token_lifecycle(None, settings, crm=crm)
    connections, tenant_settings, mappings = (connections_repository(settings), tenant_settings_repository(settings),
                                              mappings_repository(settings))

    def context_for(message: CrmEventMessage):  # noqa: ANN202
        return build_context(message, connections=connections, settings_repository=tenant_settings,
                             mappings=mappings, crm=crm, environment=settings.intuit_environment,
                             qbo_for=lambda tenant, realm: qbo_client(tenant, realm, lifecycle=lifecycle,
                                                                      settings=settings))

    return context_for


def clear_caches() -> None:
    _deduplicator.cache_clear()
    _tenant_connections.cache_clear()


# --- management API and operations (issue 7) ---------------------------------------------------------


def sync_stats_repository(settings: Settings | None = None) -> SyncStatsRepository:
    from qbsync.repositories.sync_stats import SyncStatsRepository

    return SyncStatsRepository(table_name=(settings or get_settings()).connections_table)


def dead_letter_queues(settings: Settings | None = None) -> list[DeadLetterQueue]:
    """Each dead-letter queue with the queue its messages came from (what a redrive sends them back to)."""
    from qbsync.queues.redrive import DeadLetterQueue
    from qbsync.repositories.scan_lease import DeadLetterScanLease

    settings = settings or get_settings()

    def lease(queue: str):  # noqa: ANN202 - the lease's `hold`
        return DeadLetterScanLease(table_name=settings.rate_limit_table, queue=queue).hold

    return [
        DeadLetterQueue(name="crm_events", dlq_url=settings.crm_events_dlq_url,
                        source_url=settings.crm_events_queue_url, lease=lease("crm_events")),
        DeadLetterQueue(name="poll_jobs", dlq_url=settings.poll_jobs_dlq_url, source_url=settings.poll_jobs_queue_url,
                        lease=lease("poll_jobs")),
    ]


def poll_job_queue(settings: Settings | None = None) -> FifoPublisher:
    from qbsync.queues.publisher import FifoPublisher

    return FifoPublisher(queue_url=(settings or get_settings()).poll_jobs_queue_url)


def sync_state_repository(settings: Settings | None = None):  # noqa: ANN201 - issue 6's SyncStateRepository
    from qbsync.repositories.sync_state import SyncStateRepository

    return SyncStateRepository(table_name=(settings or get_settings()).connections_table)


def crm_event_replay_ports(settings: Settings | None = None):  # noqa: ANN201 - a ReplayPorts
    """The CRM events worker's collaborators, for a dry run (its recorders wrap these)."""
    from qbsync.sync.dry_run.crm_event_replay import ReplayPorts

    settings = settings or get_settings()
    lifecycle = token_lifecycle(None, settings)
    return ReplayPorts(
        connections=connections_repository(settings), settings_repository=tenant_settings_repository(settings),
        mappings=mappings_repository(settings), realm_for_event=tenant_connections(settings).realm_for_event,
        qbo_for=lambda tenant, realm: qbo_client(tenant, realm, lifecycle=lifecycle, settings=settings),
        environment=settings.intuit_environment,
    )


def poll_dependencies(settings: Settings | None = None, *, remaining_seconds=None):  # noqa: ANN001,ANN201
    """The poll worker's collaborators (issue 6's `PollDependencies`), for a dry run of a poll: its recorders
    replace the write side. The CRM client is never called (the dry run records instead)."""
    from qbsync.repositories.sync_state import RealmMappingsReader
    from qbsync.sync.poll.runner import PollDependencies

    settings = settings or get_settings()
    crm = crm_client(settings)
    lifecycle = token_lifecycle(None, settings, crm=crm)
    return PollDependencies(
        connections=connections_repository(settings), tenant_settings=tenant_settings_repository(settings),
        sync_state=sync_state_repository(settings), mappings=mappings_repository(settings),
        mapping_reader=RealmMappingsReader(table_name=settings.mappings_table), crm=crm,
        qbo_for=lambda tenant, realm: qbo_client(tenant, realm, lifecycle=lifecycle, settings=settings),
        environment=settings.intuit_environment,
        **({"remaining_seconds": remaining_seconds} if remaining_seconds else {}),
    )
