"""An EngageLab callback body, enqueued once, in one round trip.

One Lua script claims the header's nonce (when the callback is signed), then the body's
digest, and only if both were free writes the body's RQ job onto the ``callbacks`` queue,
as web/intake.py writes a Calendly delivery's (the job hash, the queue list, the set of
queues, RQ's default serializer), and counts the outcome. So a replayed header is refused
and a body EngageLab posts twice is processed once, whatever the race.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from rq.utils import utcformat

from shared import defaults, keys, stats
from web.intake import JOB_SERIALIZER, QUEUES_KEY, write_rq_job

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REUSED_NONCE = "reused_nonce"

QUEUE_KEY = f"rq:queue:{defaults.CALLBACKS_QUEUE}"
NONCE_PREFIX = keys.PREFIX + "engagelab:nonce:"
DEDUPE_PREFIX = keys.PREFIX + "engagelab:callback:"
STATS_KEY = stats.PREFIX + "engagelab_callbacks"

ENQUEUE_IF_NEW = """
if ARGV[1] == '1' and not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('HINCRBY', KEYS[6], 'refused_reused_nonce', 1)
  return -1
end
if not redis.call('SET', KEYS[2], ARGV[5], 'NX', 'EX', ARGV[3]) then
  redis.call('HINCRBY', KEYS[6], 'duplicate', 1)
  return 0
end
%(write_job)s
redis.call('HINCRBY', KEYS[6], 'accepted', 1)
return 1
""" % {"write_job": write_rq_job(defaults.CALLBACKS_QUEUE, job_hash="KEYS[3]", queue_list="KEYS[4]",
                                 queues_set="KEYS[5]", job_id="ARGV[4]", at="ARGV[5]", data="ARGV[6]",
                                 description="ARGV[7]")}


def body_digest(raw: bytes) -> str:
    """A body's identity: the same bytes posted again are the same callback."""
    return hashlib.sha256(raw).hexdigest()[:32]


def job_id(digest: str) -> str:
    return f"callback-{digest}"


class CallbackIntake:
    """Made once per process: the registered script."""

    def __init__(self, conn):
        self.script = conn.register_script(ENQUEUE_IF_NEW)

    def enqueue_once(self, raw: bytes, body: dict[str, Any], nonce: str | None, nonce_ttl: int) -> tuple[str, str]:
        """(status, digest): ``accepted``, ``duplicate`` or ``reused_nonce`` (nothing
        enqueued). Redis errors propagate: the caller answers 503 and EngageLab retries."""
        digest = body_digest(raw)
        ident = job_id(digest)
        now = utcformat(datetime.now(timezone.utc))
        # The nonce is hashed: it is the sender's text, and a key is no place for it.
        nonce_key = NONCE_PREFIX + (hashlib.sha256(nonce.encode()).hexdigest()[:32] if nonce else "-")
        result = self.script(
            keys=[nonce_key, DEDUPE_PREFIX + digest, f"rq:job:{ident}", QUEUE_KEY, QUEUES_KEY, STATS_KEY],
            # The description is the digest, never the body: RQ logs it with every job.
            args=["1" if nonce else "0", nonce_ttl, defaults.CALLBACK_DEDUPE_TTL, ident, now,
                  JOB_SERIALIZER.dumps((defaults.PROCESS_CALLBACK_FUNC, None, (body,), {})),
                  f"process_callback {digest}"])
        return {1: ACCEPTED, 0: DUPLICATE, -1: REUSED_NONCE}[int(result)], digest
