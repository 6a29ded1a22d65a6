"""Dedupe and enqueue, as one atomic step, in one round trip.

Calendly has no delivery id, so a delivery is identified by (``event``, ``payload.uri``,
envelope ``created_at``) (shared/waiting.delivery_id). One Lua script claims the dedupe key
and, only if it was free, writes the delivery's RQ job, marks it as waiting on each booking
it affects (shared/waiting.py) and writes the figures /metrics and /admin show: of two
identical deliveries racing, exactly one enqueues and the other answers "duplicate".

The script writes the job as RQ's ``Queue.enqueue`` would (the job hash, the queue list,
the set of queues), without the fields RQ leaves empty and without compressing the job's
data (RQ reads both forms): building RQ's pipeline in Python, then replaying its commands,
cost the receiver a fifth of its time per delivery (bench/RESULTS.md, third round).
tests/test_intake.py checks that RQ reads the job back as one of its own.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from rq.serializers import resolve_serializer

from shared import captures, keys, stats, watchdog
from shared import defaults
from shared.scrub import mask_email
from shared.waiting import delivery_id, set_keys as waiting_keys

ACCEPTED = "accepted"
DUPLICATE = "duplicate"

RECENT_KEY = keys.PREFIX + "recent:deliveries"
RECENT_SIZE = 200
QUEUES_KEY = "rq:queues"
QUEUE_KEY = f"rq:queue:{defaults.EVENTS_QUEUE}"
JOB_SERIALIZER = resolve_serializer(None)
"""RQ's default serializer (pickle), as the worker that reads the job expects."""


def recent(conn, limit: int = 50) -> list[dict[str, Any]]:
    return [json.loads(item) for item in conn.lrange(RECENT_KEY, 0, limit - 1)]


def write_rq_job(queue: str, *, job_hash: str, queue_list: str, queues_set: str, job_id: str, at: str, data: str,
                 description: str) -> str:
    """Lua lines writing an RQ job as ``Queue.enqueue`` would, from the script's KEYS and
    ARGV named in the arguments: the queue in the set of queues, the job's hash (status,
    times, data, origin, description, the event jobs' timeout and TTLs), its id pushed."""
    return f"""redis.call('SADD', {queues_set}, {queue_list})
redis.call('HSET', {job_hash}, 'status', 'queued', 'created_at', {at}, 'enqueued_at', {at}, 'data', {data},
           'origin', '{queue}', 'description', {description}, 'timeout', '{defaults.EVENT_JOB_OPTIONS["timeout"]}',
           'result_ttl', '{defaults.EVENT_JOB_OPTIONS["result_ttl"]}',
           'failure_ttl', '{defaults.EVENT_JOB_OPTIONS["failure_ttl"]}')
redis.call('RPUSH', {queue_list}, {job_id})"""


ENQUEUE_IF_NEW = """
redis.call('DEL', KEYS[2], KEYS[3])
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('HINCRBY', KEYS[7], 'duplicate', 1)
  return 0
end
%(write_job)s
for i = 11, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[10])
  redis.call('EXPIRE', KEYS[i], %(waiting_ttl)d)
end
redis.call('HINCRBY', KEYS[7], 'accepted', 1)
if ARGV[7] == '1' then
  redis.call('HINCRBY', KEYS[8], 'bookings', 1)
  redis.call('EXPIRE', KEYS[8], %(hourly_ttl)d)
end
redis.call('LPUSH', KEYS[9], ARGV[8])
redis.call('LTRIM', KEYS[9], 0, %(recent_last)d)
if ARGV[9] ~= '' then
  redis.call('LPUSH', KEYS[10], ARGV[9])
  redis.call('LTRIM', KEYS[10], 0, %(capture_last)d)
  redis.call('EXPIRE', KEYS[10], %(capture_ttl)d)
end
return 1
""" % {"write_job": write_rq_job(defaults.EVENTS_QUEUE, job_hash="KEYS[4]", queue_list="KEYS[5]",
                                 queues_set="KEYS[6]", job_id="ARGV[3]", at="ARGV[4]", data="ARGV[5]",
                                 description="ARGV[6]"),
       "hourly_ttl": stats.HOURLY_TTL, "waiting_ttl": defaults.WAITING_DELIVERY_TTL,
       "recent_last": RECENT_SIZE - 1, "capture_last": captures.CAPTURE_SIZE - 1, "capture_ttl": captures.CAPTURE_TTL}
"""A delivery that got here verified, duplicate or not, first clears the verification
watchdog's keys (shared/watchdog.py): free in the same round trip. Then the dedupe claim;
only if it was free: the job (hash, queue, set of queues), the delivery's id in each of its
bookings' sets of waiting deliveries (KEYS[11] on), the counts, the hourly figure
for the chart, the recent list, and with RELAY_DEBUG_CAPTURE the masked capture."""


class ParsedOnLoad:
    """The delivery's body as it came, pickled as the call that parses it: RQ's worker
    unpickles the envelope itself, as if the parsed dict had been pickled, but pickling
    copies the body instead of walking the dict (a sixth of the cost; bench/RESULTS.md,
    seventh round). Only for a body the receiver parsed into the envelope it enqueues:
    json.loads reads bytes as UTF-8, as webhook.decode_json did, and a body that only
    another reading would take (a BOM, UTF-16) was refused there, never enqueued."""

    __slots__ = ("body",)

    def __init__(self, body: bytes):
        self.body = body

    def __reduce__(self):
        return json.loads, (self.body,)


def stamps(now: datetime) -> tuple[str, str, str]:
    """(ISO time, RQ's time, the hour's key suffix) of one moment, formatted once: RQ's
    ``utcformat`` and the hour are cut from the ISO form instead of two more strftimes."""
    iso = now.isoformat(timespec="microseconds")  # 2026-12-02T08:15:30.123456+00:00
    return iso, iso[:26] + "Z", iso[:4] + iso[5:7] + iso[8:10] + iso[11:13]


class Intake:
    """Made once per process: the registered script."""

    def __init__(self, conn):
        self.script = conn.register_script(ENQUEUE_IF_NEW)

    def enqueue_once(self, envelope: dict[str, Any], dedupe_ttl: int,
                     capture_headers: dict[str, str] | None = None, secrets: tuple[str, ...] = (),
                     body: bytes | None = None) -> tuple[str, str]:
        """Enqueue ``process_event(envelope)`` unless this delivery was seen; return
        (status, delivery id). ``body``, the bytes ``envelope`` was parsed from, is what the
        job keeps when given (``ParsedOnLoad``). With ``capture_headers``
        (RELAY_DEBUG_CAPTURE) a masked copy of the delivery is kept with it
        (shared/captures.py). Redis errors propagate: the caller answers 503."""
        ident = delivery_id(envelope)
        received_at, rq_time, hour = stamps(datetime.now(timezone.utc))
        job_id = keys.event_job(ident)
        event = envelope["event"]
        email = envelope["payload"].get("email")
        # An invitee's deliveries name it by digest (their payload's URI is the invitee's), so
        # /admin links each row to its booking page and lists a booking's deliveries.
        booking = keys.digest(envelope["payload"]["uri"]) if event.startswith("invitee") else None
        entry = json.dumps({"id": ident, "event": event, "at": received_at,
                            "who": mask_email(email) if isinstance(email, str) else None, "booking": booking})
        capture = "" if capture_headers is None else captures.snapshot(ident, envelope, capture_headers, received_at,
                                                                       secrets)
        created = self.script(
            keys=[keys.dedupe(ident), *watchdog.KEYS, f"rq:job:{job_id}", QUEUE_KEY, QUEUES_KEY,
                  stats.PREFIX + "deliveries", stats.HOURLY_PREFIX + hour, RECENT_KEY,
                  captures.CAPTURE_LIST, *waiting_keys(envelope)],
            args=[received_at, dedupe_ttl, job_id, rq_time,
                  # RQ's description is otherwise the repr of the arguments: the whole payload,
                  # stored with the job and printed in the worker's log lines.
                  JOB_SERIALIZER.dumps((defaults.PROCESS_EVENT_FUNC, None,
                                        (envelope if body is None else ParsedOnLoad(body),), {})),
                  f"process_event {event} {ident}", "1" if event == "invitee.created" else "0", entry, capture, ident])
        return (ACCEPTED if created else DUPLICATE), ident
