"""POST /webhooks/qbo: verify intuit-signature, map realm to tenant, enqueue an immediate poll job."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.api.not_implemented import not_implemented
from qbsync.api.resolver import build_resolver
from qbsync.observability import logger

app = build_resolver()


@app.post("/webhooks/qbo")
def qbo_webhook():
    not_implemented("QBO webhook ingest (F5)")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
