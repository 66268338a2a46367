"""POST /webhooks/qbo: verify intuit-signature, map realm to tenant, enqueue an immediate poll job
(qbsync.sync.poll.webhook)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.api.resolver import build_resolver, json_response, raw_body
from qbsync.composition import connections_repository
from qbsync.observability import logger, metrics, trace_handler
from qbsync.secrets import intuit_credentials
from qbsync.settings import get_settings
from qbsync.sync.poll.webhook import ingest_qbo_webhook
from qbsync.sync.poll.wiring import poll_jobs_queue

app = build_resolver()


@app.post("/webhooks/qbo")
def qbo_webhook():
    settings = get_settings()
    event = app.current_event
    outcome = ingest_qbo_webhook(
        body=raw_body(event),
        headers=event.headers,
        verifier_token=intuit_credentials(settings).verifier_token.get_secret_value(),
        realm_owner=connections_repository(settings).realm_owner,
        queue=poll_jobs_queue(settings),
    )
    logger.info("qbo webhook", extra={"outcome": outcome.status, "reason": outcome.reason,
                                      "enqueued": len(outcome.enqueued),
                                      "unknown_realms": outcome.unknown_realms})
    metrics.add_metric(name=f"QboWebhook_{outcome.status}", unit=MetricUnit.Count, value=1)
    return json_response(outcome.http_status, outcome.body())


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@trace_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
