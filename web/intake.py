"""Dedupe and enqueue, as one atomic step.

Calendly has no delivery id, so a delivery is identified by (``event``, ``payload.uri``,
envelope ``created_at``). The dedupe record and the RQ job are written in one MULTI/EXEC
guarded by WATCH on the dedupe key: of two identical deliveries racing, exactly one
commits and the other sees its WATCH fail and answers "duplicate".
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import WatchError
from rq import Queue

from shared import keys, stats
from shared import settings as defaults
from shared.logs import mask_email

ACCEPTED = "accepted"
DUPLICATE = "duplicate"


def delivery_id(envelope: dict[str, Any]) -> str:
    """A stable id for a delivery: the same for every redelivery of it."""
    parts = (envelope["event"], envelope["payload"]["uri"], envelope.get("created_at") or "")
    # surrogatepass: JSON may carry a lone surrogate escape (\ud800), which strict UTF-8 refuses.
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


RECENT_KEY = keys.PREFIX + "recent:deliveries"
RECENT_SIZE = 200


def record_accepted(pipe, envelope: dict[str, Any], ident: str, received_at: str) -> None:
    """For /metrics and /admin, in the same transaction as the job: the count, the hourly
    figure for the chart, and a short entry in the recent list (e-mail masked)."""
    stats.count(pipe, "deliveries", "accepted")
    if envelope["event"] == "invitee.created":
        stats.hourly(pipe, "bookings")
    email = envelope["payload"].get("email")
    entry = {"id": ident, "event": envelope["event"], "at": received_at,
             "who": mask_email(email) if isinstance(email, str) else None}
    pipe.lpush(RECENT_KEY, json.dumps(entry))
    pipe.ltrim(RECENT_KEY, 0, RECENT_SIZE - 1)


def recent(conn, limit: int = 50) -> list[dict[str, Any]]:
    return [json.loads(item) for item in conn.lrange(RECENT_KEY, 0, limit - 1)]


def events_queue(conn) -> Queue:
    """Made once per process: a Queue caches the server version it asks Redis for."""
    return Queue(defaults.EVENTS_QUEUE, connection=conn)


def enqueue_once(queue: Queue, envelope: dict[str, Any], dedupe_ttl: int) -> tuple[str, str]:
    """Enqueue ``process_event(envelope)`` unless this delivery was seen; return
    (status, delivery id). Redis errors propagate: the caller answers 503."""
    ident = delivery_id(envelope)
    dedupe_key = keys.dedupe(ident)
    received_at = datetime.now(timezone.utc).isoformat()
    with queue.connection.pipeline() as pipe:
        try:
            pipe.watch(dedupe_key)
            if pipe.exists(dedupe_key):
                return DUPLICATE, ident
            pipe.multi()
            pipe.set(dedupe_key, received_at, ex=dedupe_ttl)
            record_accepted(pipe, envelope, ident, received_at)
            queue.enqueue_call(
                defaults.PROCESS_EVENT_FUNC,
                args=(envelope, received_at),
                job_id=f"event-{ident}",
                timeout=defaults.JOB_TIMEOUT,
                result_ttl=defaults.EVENT_JOB_RESULT_TTL,
                failure_ttl=defaults.FAILED_JOB_TTL,
                pipeline=pipe,
            )
            pipe.execute()
        except WatchError:
            return DUPLICATE, ident
    return ACCEPTED, ident
