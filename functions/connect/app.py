"""The browser side of the OAuth flow: the signed connect link, Intuit's callback, Intuit's disconnect landing.

Wiring only: qbsync.sync.connect_flow does the work; errors become a small page for a browser or a JSON
error for a program (qbsync.api.pages).
"""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.api.pages import page, redirect
from qbsync.api.resolver import build_resolver
from qbsync.composition import connect_flow
from qbsync.errors import QbsyncError
from qbsync.observability import logger, trace_handler
from qbsync.settings import get_settings
from qbsync.sync.connect_flow import ConsentDeniedError, with_query

app = build_resolver()


def _redirect_uri() -> str:
    settings = get_settings()
    base = str(settings.public_url).rstrip("/") if settings.public_url else (
        f"https://{app.current_event.request_context.domain_name}")
    return f"{base}/oauth/callback"


def _query() -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


@app.exception_handler(QbsyncError)
def _error_page(error: QbsyncError):
    if isinstance(error, ConsentDeniedError) and error.return_url:
        return redirect(with_query(error.return_url, {"status": "denied", "error": error.intuit_error}))
    logger.warning("connect flow refused", extra={"error_code": error.code, "status": error.http_status})
    return page(error.http_status, title="QuickBooks was not connected", message=error.message, code=error.code,
                headers=app.current_event.headers)


@app.get("/connect")
def connect():
    return redirect(connect_flow(_redirect_uri()).start(_query()))


@app.get("/oauth/callback")
def oauth_callback():
    connected = connect_flow(_redirect_uri()).complete(_query())
    if connected.return_url:
        return redirect(with_query(connected.return_url, {"status": "connected", "realm_id": connected.realm_id}))
    return page(200, title="QuickBooks is connected",
                message=f"{connected.company_name or 'Your company'} is now connected. You can close this window.",
                code="connected", headers=app.current_event.headers, realm_id=connected.realm_id)


@app.get("/oauth/disconnected")
def oauth_disconnected():
    realm_id = _query().get("realmId", "")
    disconnected = connect_flow(_redirect_uri()).intuit_disconnected(realm_id)
    message = ("QuickBooks has been disconnected. Syncing for this company has stopped."
               if disconnected else "There is nothing to disconnect for this company.")
    return page(200, title="QuickBooks disconnected", message=message,
                code="disconnected" if disconnected else "not_connected", headers=app.current_event.headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@trace_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
