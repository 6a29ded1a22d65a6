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

from rq import Queue

from shared import captures, keys, stats, watchdog
from shared import defaults
from shared.scrub import mask_email

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


ENQUEUE_IF_NEW = """
redis.call('DEL', KEYS[2], KEYS[3])
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
"""
"""Claim the dedupe key; only if it was free, run the enqueue's commands. One script, so
one round trip and atomic: of two identical deliveries racing, exactly one enqueues. A
delivery that got here verified, duplicate or not, first clears the verification
watchdog's keys (shared/watchdog.py): free in the same round trip."""


class Intake:
    """Made once per process: the events queue (which caches the server version it asks
    Redis for) and the registered script."""

    def __init__(self, conn):
        self.queue = Queue(defaults.EVENTS_QUEUE, connection=conn)
        self.script = conn.register_script(ENQUEUE_IF_NEW)

    def enqueue_once(self, envelope: dict[str, Any], dedupe_ttl: int,
                     capture_headers: dict[str, str] | None = None, secrets: tuple[str, ...] = ()) -> tuple[str, str]:
        """Enqueue ``process_event(envelope)`` unless this delivery was seen; return
        (status, delivery id). With ``capture_headers`` (RELAY_DEBUG_CAPTURE) a masked
        copy of the delivery is kept with it (shared/captures.py). Redis errors propagate: the caller answers 503."""
        ident = delivery_id(envelope)
        received_at = datetime.now(timezone.utc).isoformat()
        # Let RQ write its commands for the job into a pipeline that is never executed;
        # the script runs them behind the dedupe check instead.
        pipe = self.queue.connection.pipeline(transaction=False)
        self.queue.enqueue_call(
            defaults.PROCESS_EVENT_FUNC,
            args=(envelope,),
            job_id=keys.event_job(ident),
            # RQ's default description is the repr of the arguments: the whole payload,
            # stored with the job and printed in the worker's log lines.
            description=f"process_event {envelope['event']} {ident}",
            pipeline=pipe,
            **defaults.EVENT_JOB_OPTIONS,
        )
        record_accepted(pipe, envelope, ident, received_at)
        if capture_headers is not None:
            captures.write(pipe, captures.snapshot(ident, envelope, capture_headers, received_at, secrets))
        commands: list[Any] = []
        for args, _options in pipe.command_stack:
            commands += [len(args), *args]
        pipe.reset()
        created = self.script(keys=[keys.dedupe(ident), *watchdog.KEYS], args=[received_at, dedupe_ttl, *commands])
        return (ACCEPTED if created else DUPLICATE), ident
