"""Consumes the poll jobs FIFO queue: QBO change-data-capture since the company's watermark, then the CRM
(qbsync.sync.poll.runner); qbsync.sync.poll.wiring.handle_poll_batch runs the batch and counts each job's
outcome, the objects it wrote, its lag and its dead letters for the tenant's status."""

from aws_lambda_powertools.utilities.typing import LambdaContext

# Loaded at init rather than by the first invocation, which needs them anyway (bench/ measures the init). The
# consumer comes before anything imports pydantic: Powertools' batch module also loads its pydantic parser
# models (about 30 ms) when pydantic is already imported, and we never use them.
import qbsync.queues.consumer  # noqa: F401  # isort: skip
import qbsync.sync.poll.runner  # noqa: F401
from qbsync.observability import logger, trace_handler
from qbsync.sync.poll.wiring import handle_poll_batch


# Metrics are single EMF lines written as they happen (qbsync.sync.outcomes): no log_metrics flush needed.
@logger.inject_lambda_context
@trace_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return handle_poll_batch(event, context)
