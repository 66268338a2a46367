"""POST /webhooks/crm: verify the Standard Webhooks signature, dedupe on webhook-id, enqueue, answer 202."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.api.not_implemented import not_implemented
from qbsync.api.resolver import build_resolver
from qbsync.observability import logger

app = build_resolver()


@app.post("/webhooks/crm")
def crm_webhook():
    not_implemented("CRM webhook ingest (F11-F13)")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
