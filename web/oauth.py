"""Connecting a Calendly organization through OAuth 2.0, on the web process.

``/oauth/calendly/start`` is an admin action (signed in at /admin, or the admin token as a
bearer header): whoever connects chooses whose bookings the relay reads. The flow must be
finished by the client that started it, since it holds the flow's cookie: a start made
with a bearer header from a script cannot be finished in a browser (open /admin and follow
its link instead). The callback
finishes only the flow that this browser started, for an admin who is still one:

- The state is single-use and lives ten minutes (as Calendly's codes do); its record holds
  the PKCE verifier (shared/calendly/oauth.py) and what binds it to its start.
- Bound to the browser: the start sets ``relay_oauth``, a random value whose digest the
  record keeps. It is a SameSite=Lax cookie of its own because the callback arrives as a
  redirect from auth.calendly.com, a cross-site navigation that carries Lax cookies but not
  the SameSite=Strict admin session cookie. (Relaxing the session cookie to Lax instead
  would let any site open /oauth/calendly/start in a signed-in admin's browser; the Strict
  session is what keeps that page, and every admin POST, same-site only.) So someone who
  holds a fresh state, from a log or a shoulder, cannot finish the flow with their own code:
  their browser lacks the cookie.
- Bound to the admin: the record names the session that started the flow, which must still
  be live at the callback (not signed out, not expired, made with the current ADMIN_TOKEN),
  and a digest keyed by ADMIN_TOKEN, so that changing the token ends pending flows started
  with a bearer header too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, redirect, request

from shared.calendly import oauth
from shared.calendly.client import CalendlyError
from shared.scrub import safe_message
from shared.settings import ConfigError
from web import auth
from web.responses import error_response, no_store, relay

log = logging.getLogger("relay.web.oauth")

blueprint = Blueprint("oauth", __name__)
blueprint.after_request(no_store)

FLOW_COOKIE = "relay_oauth"
CALLBACK_PATH = "/oauth/calendly/callback"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _admin_binding(token: str, browser: str) -> str:
    return auth.token_binding(token, "oauth-flow:" + browser)


@blueprint.get("/oauth/calendly/start", strict_slashes=False)
def start():
    settings, conn = relay()["settings"], relay()["redis"]
    access = auth.check()
    refusal = auth.admin_refusal(access)
    if refusal:
        return refusal
    try:
        oauth.check_oauth_settings(settings)
    except ConfigError as error:
        return error_response(400, "oauth_not_configured", str(error))
    flow = secrets.token_urlsafe(32)
    browser = _digest(flow)
    binding = {"browser": browser, "session": access.session or "",
               "admin": _admin_binding(settings.admin_token, browser)}
    response = redirect(oauth.start(conn, settings, binding), code=302)
    response.set_cookie(FLOW_COOKIE, flow, max_age=oauth.STATE_TTL, path=CALLBACK_PATH, httponly=True,
                        samesite="Lax", secure=request.is_secure)
    return response


def _refused(status: int, code: str, message: str):
    # Logged for the operator (a refused callback may be someone trying a stolen state);
    # the state and the code stay out of the log.
    log.warning("Calendly OAuth callback refused: %s", code, extra={"reason": code, "client": auth.client_address()})
    return error_response(status, code, message)


@blueprint.get(CALLBACK_PATH, strict_slashes=False)
def callback():
    settings, conn = relay()["settings"], relay()["redis"]
    if request.args.get("error"):
        return error_response(400, "authorization_denied",
                              f"Calendly did not authorize: {request.args.get('error_description') or request.args['error']}")
    state = request.args.get("state")
    record = oauth.pending(conn, state)
    if record is None:
        return _refused(400, "invalid_state", "unknown or expired state; start again at /oauth/calendly/start")
    if not hmac.compare_digest(_digest(request.cookies.get(FLOW_COOKIE, "")), record.get("browser", "")):
        # Left pending: the browser that started the flow may still finish it.
        # The usual honest cause: /admin was opened at another host name than the one in
        # CALENDLY_REDIRECT_URI, and cookies do not cross host names.
        host = urlsplit(settings.calendly_redirect_uri or "").hostname or "the redirect URI's host"
        return _refused(403, "wrong_browser",
                        "this connection was started in another browser, or at another address than "
                        f"{host} (its relay_oauth cookie did not come back); open /admin at {host} in the "
                        "browser you approve it in, and connect again")
    token = settings.admin_token
    if not token or not hmac.compare_digest(_admin_binding(token, record["browser"]), record.get("admin", "")):
        oauth.take_state(conn, state)
        return _refused(403, "admin_changed", "ADMIN_TOKEN changed since this connection was started; "
                                              "sign in again and start again from /admin")
    if record.get("session") and not auth.session_is_live(record["session"]):
        oauth.take_state(conn, state)
        return _refused(403, "session_ended", "the admin session that started this connection has ended "
                                              "(signed out or expired); sign in again and start again from /admin")
    if not oauth.take_state(conn, state):
        return _refused(400, "invalid_state", "this state was just used; start again at /oauth/calendly/start")
    code = request.args.get("code")
    if not code:
        response = error_response(400, "missing_code", "the callback has no authorization code")
    else:
        try:
            tokens = oauth.exchange_code(conn, settings, code, record["verifier"])
        except (CalendlyError, ConfigError) as error:
            log.error("OAuth code exchange failed: %s", safe_message(error))
            response = error_response(502, "token_exchange_failed", str(error))
        else:
            log.info("Calendly connected through OAuth", extra={"owner": tokens.get("owner")})
            response = jsonify(status="connected", owner=tokens.get("owner"), organization=tokens.get("organization"))
    body, status = response if isinstance(response, tuple) else (response, 200)
    body.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH)  # the flow is over, whichever way
    return body, status
