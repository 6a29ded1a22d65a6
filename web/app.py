"""The receiver's Flask app: routes only; the work is in signature.py and intake.py.

Order on ``POST /webhooks/calendly``: size cap → signature over the raw bytes → JSON →
envelope check → dedupe-and-enqueue → 200. Every refusal is a JSON body with an
``error`` code and a ``message``; nothing is enqueued for a refused request; an
unreachable Redis gives 503 so that Calendly retries; no route ever redirects.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, jsonify, request
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from shared import logs
from shared import settings as defaults
from shared.calendly.payloads import SUPPORTED_EVENTS, PayloadError, validate_envelope
from shared.redis_conn import connect, resolve_url
from shared.settings import Settings
from web import intake
from web.oauth import blueprint as oauth_blueprint
from web.responses import error_response
from web.signature import HEADER, SignatureVerificationError, verify_signature

log = logging.getLogger("relay.web")

WEBHOOK_PATH = "/webhooks/calendly"


def create_app(settings: Settings | None = None, redis_client=None) -> Flask:
    settings = settings or Settings.from_env()
    settings.check_web()
    if redis_client is None:
        logs.configure(secrets=settings.secrets)
        redis_client = connect(resolve_url(settings), fail_fast=True)
    if not settings.signing_key:
        log.warning(
            "RELAY_ALLOW_UNSIGNED=1 and no CALENDLY_WEBHOOK_SIGNING_KEY: webhooks are NOT "
            "authenticated; anyone who can reach this URL can inject bookings"
        )
    app = Flask("calendly_relay")
    app.config["MAX_CONTENT_LENGTH"] = defaults.MAX_BODY_BYTES
    app.extensions["relay"] = {"settings": settings, "redis": redis_client}
    queue = intake.events_queue(redis_client)
    app.register_blueprint(oauth_blueprint)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.post(WEBHOOK_PATH, strict_slashes=False)
    def calendly_webhook():
        raw = request.get_data(cache=False)
        age = None
        if settings.signing_key:
            try:
                signed_at = verify_signature(
                    raw,
                    request.headers.get(HEADER),
                    settings.signing_key,
                    tolerance=settings.webhook_tolerance,
                    future_skew=defaults.FUTURE_SKEW,
                )
            except SignatureVerificationError as error:
                log.warning(
                    "webhook refused: %s", error.reason,
                    extra={"reason": error.reason, "signature_age": _seconds(error.age)},
                )
                return error_response(401, error.reason, error.message)
            age = _seconds(time.time() - signed_at)
        envelope, problem = parse_body(raw)
        if problem:
            log.warning("webhook rejected: %s", problem, extra={"reason": "invalid_payload", "signature_age": age})
            return error_response(400, "invalid_payload", problem)
        event = envelope["event"]
        if event not in SUPPORTED_EVENTS:
            log.info("webhook ignored: %s", event, extra={"event": event, "signature_age": age})
            return jsonify(status="ignored", event=event), 200
        try:
            status, ident = intake.enqueue_once(queue, envelope, settings.dedupe_ttl)
        except RedisError as error:
            log.error("redis unavailable, asking Calendly to retry", extra={"error": type(error).__name__})
            return error_response(503, "redis_unavailable", "the queue is unreachable; retry later")
        log.info(
            "webhook %s: %s", status, event,
            extra={"event": event, "delivery": ident, "outcome": status, "signature_age": age},
        )
        return jsonify(status=status, delivery=ident), 200

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


def parse_body(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(envelope, None) or (None, what is wrong)."""
    if not raw:
        return None, "body is empty; expected a JSON object"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, "body is not valid JSON"
    try:
        return validate_envelope(data), None
    except PayloadError as error:
        return None, str(error)


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)
