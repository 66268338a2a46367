"""EventBridge schedule → one poll job per connected company (qbsync.sync.poll_schedule)."""

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.observability import logger
from qbsync.queues.publisher import FifoPublisher
from qbsync.repositories.connections import ConnectionsRepository
from qbsync.settings import get_settings
from qbsync.sync.poll_schedule import enqueue_poll_jobs


@logger.inject_lambda_context
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict:
    settings = get_settings()
    tick = datetime.fromisoformat(event.time.replace("Z", "+00:00")) if event.time else datetime.now(UTC)
    enqueued = enqueue_poll_jobs(
        ConnectionsRepository(table_name=settings.connections_table).iter_connected(),
        sink=FifoPublisher(queue_url=settings.poll_jobs_queue_url),
        tick=tick,
    )
    logger.info("poll jobs enqueued", extra={"enqueued": enqueued})
    return {"enqueued": enqueued}
