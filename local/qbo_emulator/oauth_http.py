"""HTTP face of the OAuth server: /oauth2/authorize, /oauth2/v1/tokens/bearer, /v2/oauth2/tokens/revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from . import jsonio
from .errors import OAuthError
from .responses import json_response

if TYPE_CHECKING:
    from .emulator import QboEmulator


def authorize(emu: QboEmulator, request: Request) -> Response:
    status, target = emu.oauth.authorize(dict(request.args.items()))
    if status == 302:
        return Response("", status=302, headers={"Location": target})
    return Response(
        f"<html><body><h1>Authorization error</h1><p>{target}</p></body></html>",
        status=400,
        content_type="text/html",
    )


def _oauth_error(error: OAuthError) -> Response:
    return json_response(
        {"error": error.error, "error_description": error.description}, status=error.http_status
    )


def token(emu: QboEmulator, request: Request) -> Response:
    try:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
        form = dict(request.form.items())
        app = emu.oauth.authenticate_client(request.headers.get("Authorization"), form)
        hard = request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
        body = emu.oauth.token(app, form, include_hard_expiry=hard)
    except OAuthError as error:
        return _oauth_error(error)
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def revoke(emu: QboEmulator, request: Request) -> Response:
    try:
        app = emu.oauth.authenticate_client(request.headers.get("Authorization"), {})
        try:
            body = jsonio.loads(request.get_data())
        except jsonio.MalformedJson:
            raise OAuthError("invalid_request", 'the body must be JSON {"token": ...}') from None
        if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body["token"]:
            raise OAuthError("invalid_request", "token is required")
        emu.oauth.revoke(app, body["token"])
    except OAuthError as error:
        return _oauth_error(error)
    return Response("", status=200)


def discovery(emu: QboEmulator, request: Request) -> Response:
    """The OpenID discovery document (QBO.md §1.1), pointing at this emulator's endpoints."""
    return json_response(
        {
            "issuer": "https://oauth.platform.intuit.com/op/v1",
            "authorization_endpoint": emu.auth_url,
            "token_endpoint": emu.token_url,
            "revocation_endpoint": emu.revoke_url,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
        }
    )
