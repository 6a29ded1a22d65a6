"""The web process's Flask app: the Calendly and EngageLab receivers, health, metrics, admin, OAuth.

Each surface is a blueprint of its own (web/webhook.py, web/engagelab.py, web/metrics.py, web/admin.py,
web/oauth.py); this module only wires them to the settings and the Redis connection.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from shared import ledger, logs, watchdog
from shared import defaults
from shared.redis_conn import check_certificate, connect_for
from shared.settings import Settings
from web import intake
from web.body import BoundedBody
from web.callback_intake import CallbackIntake
from web.engagelab import blueprint as engagelab_blueprint
from web.admin import blueprint as admin_blueprint
from web.admin_messages import blueprint as admin_messages_blueprint
from web.metrics import blueprint as metrics_blueprint
from web.oauth import blueprint as oauth_blueprint
from web.request_frame import RequestFrame
from web.responses import error_response
from web.webhook import blueprint as webhook_blueprint

log = logging.getLogger("relay.web")


def create_app(settings: Settings | None = None, redis_client=None) -> Flask:
    settings = settings or Settings.from_env()
    settings.check_web()
    ledger.configure(settings.ledger_retention)
    if redis_client is None:
        logs.configure(secrets=settings.secrets, log_format=settings.log_format)
        redis_client = connect_for(settings, fail_fast=True)
        check_certificate(redis_client)
    if not settings.signing_key:
        log.warning(
            "RELAY_ALLOW_UNSIGNED=1 and no CALENDLY_WEBHOOK_SIGNING_KEY: webhooks are NOT "
            "authenticated; anyone who can reach this URL can inject bookings"
        )
    app = Flask("calendly_relay")
    if settings.trusted_proxies:
        # Believe the last n proxies about the client's address (the sign-in throttle counts
        # per address) and the scheme (the session cookie's Secure flag), nothing more: the
        # host is not taken from X-Forwarded-Host, which Heroku's router does not set and a
        # client could then choose. With 0 proxies every X-Forwarded-* header is ignored.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_port=0, x_prefix=0)
    app.wsgi_app = BoundedBody(app.wsgi_app)  # the body is in before anything else runs
    app.wsgi_app = RequestFrame(app.wsgi_app, settings.trusted_proxies)  # outermost: frames BoundedBody's answers too
    app.config["MAX_CONTENT_LENGTH"] = defaults.MAX_BODY_BYTES
    app.extensions["relay"] = {"settings": settings, "redis": redis_client,
                               "intake": intake.Intake(redis_client), "watchdog": watchdog.Watchdog(redis_client),
                               "callback_intake": CallbackIntake(redis_client)}
    for blueprint in (webhook_blueprint, engagelab_blueprint, oauth_blueprint, metrics_blueprint, admin_blueprint,
                      admin_messages_blueprint):
        app.register_blueprint(blueprint)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        try:
            redis_client.ping()
        except RedisError as error:
            return error_response(503, "redis_unavailable", f"redis is unreachable ({type(error).__name__})")
        return jsonify(status="ready")

    return app
