"""``POST /webhooks/calendly``: size cap → signature over the raw bytes → JSON → envelope
check → dedupe-and-enqueue → 200. Every refusal is a JSON body naming the problem and
enqueues nothing; an unreachable Redis gives 503 so that Calendly retries; the route
accepts a trailing slash rather than redirecting (Calendly counts a 3xx as a failure)."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from flask import Blueprint, jsonify, request
from redis.exceptions import RedisError

from shared import defaults
from shared import stats, watchdog
from shared.calendly.payloads import SUPPORTED_EVENTS, PayloadError, validate_envelope
from web import intake
from web.responses import accepted_response, error_response, relay
from shared.calendly.signature import HEADER, SignatureVerificationError, verify_with_any_key

log = logging.getLogger("relay.web")

WEBHOOK_PATH = "/webhooks/calendly"

blueprint = Blueprint("webhook", __name__)


@blueprint.post(WEBHOOK_PATH, strict_slashes=False)
def calendly_webhook():
    shared = relay()
    settings, conn = shared["settings"], shared["redis"]
    raw = request.get_data(cache=False)
    age = None
    if settings.signing_key:
        try:
            signed_at = verify_with_any_key(raw, request.headers.get(HEADER), settings.signing_keys,
                                            tolerance=settings.webhook_tolerance, future_skew=defaults.FUTURE_SKEW)
        except SignatureVerificationError as error:
            log.warning("webhook refused: %s", error.reason,
                        extra={"reason": error.reason, "signature_age": _seconds(error.age)})
            _count(conn, "signature_rejections", error.reason)
            _count(conn, "deliveries", "rejected_signature")
            if error.reason == SignatureVerificationError.NO_MATCHING_SIGNATURE:  # signed, but not by our key
                shared["watchdog"].refused()
            return error_response(401, error.reason, error.message)
        age = _seconds(time.time() - signed_at)
    envelope, problem = parse_body(raw)
    if age is not None and (problem or envelope["event"] not in SUPPORTED_EVENTS):
        watchdog.clear(conn)  # verified, though not enqueued: the key is right (rare, off the hot path)
    if problem:
        log.warning("webhook rejected: %s", problem, extra={"reason": "invalid_payload", "signature_age": age})
        _count(conn, "deliveries", "rejected_invalid")
        return error_response(400, "invalid_payload", problem)
    event = envelope["event"]
    if event not in SUPPORTED_EVENTS:
        log.info("webhook ignored: %s", event, extra={"event": event, "signature_age": age})
        _count(conn, "deliveries", "ignored")
        return jsonify(status="ignored", event=event), 200
    try:
        headers = dict(request.headers) if settings.debug_capture else None
        status, ident = shared["intake"].enqueue_once(envelope, settings.dedupe_ttl, headers, settings.secrets,
                                                      body=raw)
    except RedisError as error:
        log.error("redis unavailable, asking Calendly to retry", extra={"error": type(error).__name__})
        return error_response(503, "redis_unavailable", "the queue is unreachable; retry later")
    log.info("webhook %s: %s", status, event,
             extra={"event": event, "delivery": ident, "outcome": status, "signature_age": age})
    return accepted_response(status=status, delivery=ident)


SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_body(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(envelope, None) or (None, what is wrong)."""
    data, problem = decode_json(raw)
    if problem:
        return None, problem
    try:
        return validate_envelope(data), None
    except PayloadError as error:
        return None, str(error)


def decode_json(raw: bytes) -> tuple[Any, str | None]:
    """(the JSON value, None) or (None, what is wrong): UTF-8, not too deep, no lone
    surrogate. The EngageLab receiver (web/engagelab.py) reads its bodies with it too."""
    if not raw:
        return None, "body is empty; expected a JSON object"
    try:
        # UTF-8 as JSON requires on the wire: json.loads would also take UTF-16 and UTF-32,
        # whose bytes hide a surrogate escape from the check below.
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, "body is not valid JSON in UTF-8"
    # Both checks are cheap on a real delivery: a handful of brackets, no surrogate escapes.
    if raw.count(b"{") + raw.count(b"[") > defaults.MAX_JSON_DEPTH and _too_deep(data, defaults.MAX_JSON_DEPTH):
        return None, f"body nests objects and arrays deeper than {defaults.MAX_JSON_DEPTH} levels"
    if SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(data):
        # JSON allows "\ud800" alone, but no UTF-8 text can hold it: every later step
        # (Redis, the providers, the log) would fail on it, on every replay.
        return None, "body has a lone UTF-16 surrogate escape (\\ud800-\\udfff); expected valid Unicode text"
    return data, None


def _too_deep(value: Any, allowed: int) -> bool:
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return False
    if allowed == 0:
        return True
    return any(_too_deep(item, allowed - 1) for item in value)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def _count(conn, family: str, label: str) -> None:
    """Best effort: a refusal is answered whether or not Redis can count it."""
    try:
        stats.count(conn, family, label)
    except RedisError:
        pass


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)
