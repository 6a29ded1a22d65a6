"""Connecting a Calendly organization through OAuth 2.0, on the web process.

``/oauth/calendly/start`` is an admin action (signed in at /admin, or the admin token as a
bearer header): whoever connects chooses whose bookings the relay reads. The callback is
authenticated by the single-use state."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, redirect, request

from shared.calendly import oauth
from shared.calendly.client import CalendlyError
from shared.logs import safe_message
from shared.settings import ConfigError
from web.auth import admin_refusal
from web.responses import error_response, relay

log = logging.getLogger("relay.web.oauth")

blueprint = Blueprint("oauth", __name__)


@blueprint.get("/oauth/calendly/start", strict_slashes=False)
def start():
    settings, conn = relay()["settings"], relay()["redis"]
    refusal = admin_refusal()
    if refusal:
        return refusal
    try:
        return redirect(oauth.start(conn, settings), code=302)
    except ConfigError as error:
        return error_response(400, "oauth_not_configured", str(error))


@blueprint.get("/oauth/calendly/callback", strict_slashes=False)
def callback():
    settings, conn = relay()["settings"], relay()["redis"]
    if request.args.get("error"):
        return error_response(400, "authorization_denied",
                              f"Calendly did not authorize: {request.args.get('error_description') or request.args['error']}")
    if not oauth.take_state(conn, request.args.get("state")):
        return error_response(400, "invalid_state", "unknown or expired state; start again at /oauth/calendly/start")
    code = request.args.get("code")
    if not code:
        return error_response(400, "missing_code", "the callback has no authorization code")
    try:
        tokens = oauth.exchange_code(conn, settings, code)
    except (CalendlyError, ConfigError) as error:
        log.error("OAuth code exchange failed: %s", safe_message(error))
        return error_response(502, "token_exchange_failed", str(error))
    log.info("Calendly connected through OAuth", extra={"owner": tokens.get("owner")})
    return jsonify(status="connected", owner=tokens.get("owner"), organization=tokens.get("organization"))
