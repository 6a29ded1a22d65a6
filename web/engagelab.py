"""``POST /webhooks/engagelab``: EngageLab's message statuses and SMS replies.

Facts (https://www.engagelab.com/docs/sms/api/callback): on saving the URL in its console,
EngageLab posts ``{}`` and wants a 200 within 3 s; every callback may carry
``X-CALLBACK-ID`` (signed with the console's username and secret, verified by
shared/engagelab_callback.py) and an ``Authorization`` header of the operator's choosing.
Bodies are ``{"total": N, "rows": [...]}``.

Order: the body read (capped, web/body.py) → the ``{}`` probe answered at once → the
Authorization and the signature → the body's shape → nonce, dedupe and enqueue in one
Redis round trip (web/callback_intake.py) → 200. The worker processes the rows
(worker/callbacks/). Refusals are JSON naming the reason; neither secrets nor the body
(phone numbers, replies) reach the log.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request
from redis.exceptions import RedisError

from shared import stats
from shared.engagelab_callback import HEADER, CallbackVerificationError, authorization_matches, reused_nonce, \
    verify_header
from web.callback_intake import REUSED_NONCE
from web.responses import error_response, relay
from web.webhook import decode_json

log = logging.getLogger("relay.web")

CALLBACK_PATH = "/webhooks/engagelab"
NOT_ENABLED = ("EngageLab callbacks are not enabled: set ENGAGELAB_CALLBACK_USERNAME and ENGAGELAB_CALLBACK_SECRET "
               "(as in EngageLab's console, Configuration > Callback Settings) or ENGAGELAB_CALLBACK_AUTHORIZATION, "
               "then restart the web process")

blueprint = Blueprint("engagelab", __name__)


@blueprint.post(CALLBACK_PATH, strict_slashes=False)
def engagelab_callback():
    shared = relay()
    config, conn = shared["settings"].callbacks, shared["redis"]
    if not config.enabled:
        return error_response(404, "callbacks_not_enabled", NOT_ENABLED)
    raw = request.get_data(cache=False)
    body, problem = decode_json(raw) if raw.strip() else ({}, None)
    if body == {}:
        # The URL check when the operator saves it: nothing to verify or keep, and it
        # must be answered within 3 s, with or without a header (Redis not involved).
        log.info("engagelab callback probe answered")
        return "", 200
    nonce = None
    try:
        if config.authorization and not authorization_matches(request.headers.get("Authorization"),
                                                              config.authorization):
            raise CallbackVerificationError("wrong_authorization",
                                            "the Authorization header is missing or is not "
                                            "ENGAGELAB_CALLBACK_AUTHORIZATION")
        if config.secret:
            nonce = verify_header(request.headers.get(HEADER), secret=config.secret, username=config.username,
                                  tolerance=config.tolerance).nonce
    except CallbackVerificationError as error:
        return _refuse(conn, error)
    problem = problem or _shape_problem(body)
    if problem:
        log.warning("engagelab callback rejected: %s", problem, extra={"reason": "invalid_payload"})
        _count(conn, "refused_invalid_payload")
        return error_response(400, "invalid_payload", problem)
    try:
        status, digest = shared["callback_intake"].enqueue_once(raw, body, nonce, 2 * config.tolerance)
    except RedisError as error:
        log.error("redis unavailable, asking EngageLab to retry the callback", extra={"error": type(error).__name__})
        return error_response(503, "redis_unavailable", "the queue is unreachable; retry later")
    if status == REUSED_NONCE:
        return _refuse(conn, reused_nonce(), counted=True)
    rows = len(body["rows"])
    log.info("engagelab callback %s: %d rows", status, rows, extra={"outcome": status, "callback": digest, "rows": rows})
    return jsonify(status=status, callback=digest), 200


def _shape_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body is not a JSON object; expected {\"total\": N, \"rows\": [...]}"
    rows = body.get("rows")
    if not isinstance(rows, list):
        return "rows: expected a list of callback rows"
    if not all(isinstance(row, dict) for row in rows):
        return "rows: every row must be a JSON object"
    return None


def _refuse(conn, error: CallbackVerificationError, counted: bool = False):
    log.warning("engagelab callback refused: %s", error.reason, extra={"reason": error.reason})
    if not counted:  # a reused nonce was counted by the intake script itself
        _count(conn, f"refused_{error.reason}")
    return error_response(401, error.reason, error.message)


def _count(conn, outcome: str) -> None:
    """Best effort: a refusal is answered whether or not Redis can count it."""
    try:
        stats.count(conn, "engagelab_callbacks", outcome)
    except RedisError:
        pass
