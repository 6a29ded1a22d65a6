"""Dedupe and enqueue, as one atomic step.

Calendly has no delivery id, so a delivery is identified by (``event``, ``payload.uri``,
envelope ``created_at``). The dedupe record and the RQ job are written in one MULTI/EXEC
guarded by WATCH on the dedupe key: of two identical deliveries racing, exactly one
commits and the other sees its WATCH fail and answers "duplicate".
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import WatchError
from rq import Queue

from shared import keys
from shared import settings as defaults

ACCEPTED = "accepted"
DUPLICATE = "duplicate"


def delivery_id(envelope: dict[str, Any]) -> str:
    """A stable id for a delivery: the same for every redelivery of it."""
    parts = (envelope["event"], envelope["payload"]["uri"], envelope.get("created_at") or "")
    # surrogatepass: JSON may carry a lone surrogate escape (\ud800), which strict UTF-8 refuses.
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


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
