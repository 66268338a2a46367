"""POST /webhooks/crm: verify the Standard Webhooks signature, dedupe on webhook-id, enqueue, answer 202."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.api.resolver import build_resolver, json_response, raw_body
from qbsync.composition import crm_event_queue, tenant_connections, webhook_deduplicator
from qbsync.observability import annotate, logger, metrics, trace_handler
from qbsync.secrets import crm_secrets
from qbsync.settings import get_settings
from qbsync.sync.crm_ingest import ingest_crm_webhook

app = build_resolver()


@app.post("/webhooks/crm")
def crm_webhook():
    settings = get_settings()
    event = app.current_event
    outcome = ingest_crm_webhook(
        body=raw_body(event),
        headers=event.headers,
        secrets=crm_secrets(settings).inbound_values(),
        connections=tenant_connections(settings),
        queue=crm_event_queue(settings),
        deduplicate=webhook_deduplicator(settings),
    )
    annotate(tenant_id=outcome.tenant_id, event_id=outcome.event_id)
    logger.info("crm webhook", extra={"outcome": outcome.status, "reason": outcome.reason,
                                      "event_id": outcome.event_id, "tenant_id": outcome.tenant_id})
    metrics.add_metric(name=f"CrmWebhook_{outcome.status}", unit=MetricUnit.Count, value=1)
    return json_response(outcome.http_status, outcome.body())


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@trace_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
