"""EventBridge schedule → one poll job per connected company that is due (qbsync.sync.poll_schedule)."""

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.composition import connections_repository, tenant_settings_repository
from qbsync.observability import logger, trace_handler
from qbsync.repositories.sync_state import SyncStateRepository
from qbsync.settings import get_settings
from qbsync.sync.poll.wiring import poll_jobs_queue, schedule_tick
from qbsync.sync.poll_schedule import CompanyDueness, enqueue_poll_jobs


@logger.inject_lambda_context
@trace_handler
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict:
    settings = get_settings()
    tick = datetime.fromisoformat(event.time.replace("Z", "+00:00")) if event.time else datetime.now(UTC)
    enqueued = enqueue_poll_jobs(
        connections_repository(settings).iter_connected(),
        sink=poll_jobs_queue(settings),
        tick=tick,
        due=CompanyDueness(settings=tenant_settings_repository(settings),
                           sync_state=SyncStateRepository(table_name=settings.connections_table),
                           tick=schedule_tick(settings)),
    )
    logger.info("poll jobs enqueued", extra={"enqueued": enqueued})
    return {"enqueued": enqueued}
