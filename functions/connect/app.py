"""The browser side of the OAuth flow: the signed connect link, Intuit's callback, Intuit's disconnect landing."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.api.not_implemented import not_implemented
from qbsync.api.resolver import build_resolver
from qbsync.observability import logger

app = build_resolver()


@app.get("/connect")
def connect():
    not_implemented("F1 connect")


@app.get("/oauth/callback")
def oauth_callback():
    not_implemented("F1 OAuth callback")


@app.get("/oauth/disconnected")
def oauth_disconnected():
    not_implemented("F2 Intuit disconnect landing")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
