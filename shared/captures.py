"""Debug capture: the last deliveries the receiver accepted, kept to look at (and replay).

With RELAY_DEBUG_CAPTURE=1 the receiver stores each accepted delivery's headers and body,
phone numbers and e-mail addresses masked, for CAPTURE_TTL, keeping the newest
CAPTURE_SIZE. ``relay deliveries list|show|replay`` read them. The capture is written in
the same atomic step as the job, so what is listed is exactly what was enqueued.

Replay does not use the masked copy: it re-enqueues the original delivery that RQ keeps
with the delivery's job (EVENT_JOB_RESULT_TTL, as long as the capture).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from shared import keys
from shared.logs import scrub

CAPTURE_LIST = keys.PREFIX + "capture:deliveries"
CAPTURE_SIZE = 200
CAPTURE_TTL = 24 * 3600
"""No longer than the delivery's job is kept (EVENT_JOB_RESULT_TTL): a listed capture can
always be replayed."""
DROPPED_HEADERS = frozenset({"cookie", "authorization"})


def capture_key(ident: str) -> str:
    return f"{keys.PREFIX}capture:{ident}"


def snapshot(envelope: dict[str, Any], headers: Mapping[str, str], received_at: str) -> str:
    """The stored form: headers (credentials dropped) and the body, personal data masked."""
    kept = {name: scrub(value) for name, value in headers.items() if name.lower() not in DROPPED_HEADERS}
    return json.dumps({"received_at": received_at, "event": envelope.get("event"), "headers": kept,
                       "body": _masked(envelope)})


def write(pipe, ident: str, stored: str) -> None:
    pipe.set(capture_key(ident), stored, ex=CAPTURE_TTL)
    pipe.lrem(CAPTURE_LIST, 0, ident)
    pipe.lpush(CAPTURE_LIST, ident)
    pipe.ltrim(CAPTURE_LIST, 0, CAPTURE_SIZE - 1)


def listing(conn, limit: int = CAPTURE_SIZE) -> list[tuple[str, dict[str, Any]]]:
    """(id, capture), newest first; those expired meanwhile are left out."""
    ids = [raw.decode() for raw in conn.lrange(CAPTURE_LIST, 0, limit - 1)]
    found = conn.mget([capture_key(ident) for ident in ids]) if ids else []
    return [(ident, json.loads(raw)) for ident, raw in zip(ids, found) if raw]


def show(conn, ident: str) -> dict[str, Any] | None:
    raw = conn.get(capture_key(ident))
    return json.loads(raw) if raw else None


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value
