"""GET /health, and API Gateway's $default route (JSON 404/405 for anything the API does not serve)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.api.resolver import build_resolver, json_response
from qbsync.health import check_health
from qbsync.observability import logger, trace_handler
from qbsync.queues.queue_probe import QueueProbe
from qbsync.repositories.table_probe import TableProbe
from qbsync.settings import get_settings

app = build_resolver()


@app.get("/health")
def health():
    settings = get_settings()
    report = check_health(
        tables=settings.table_names,
        queues=settings.queue_urls,
        table_probe=TableProbe(),
        queue_probe=QueueProbe(),
    )
    return json_response(200 if report.status == "ok" else 503, report.model_dump())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@trace_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
