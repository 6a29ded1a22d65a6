"""What a job does with a provider's failure: a transient one is retried later, through
rq-scheduler; a permanent one is recorded with the job, which then fails.

rq-scheduler's ``enqueue_at`` has no ``retry=`` (it would be passed to the function),
and RQ's own Retry needs its built-in scheduler. So a job that meets a transient failure
schedules its own next attempt: same function, same data with ``attempt`` + 1, after the
provider's own reset time when it gives one, otherwise after an exponential backoff.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from shared import defaults
from shared.scrub import safe_message, safe_text
from worker import scheduling
from worker.payloads import Payload
from worker.provider_errors import PermanentError, TransientError

log = logging.getLogger("relay.retry")

MAX_RETRY_AFTER = 24 * 3600
MIN_RETRY_DELAY = 1.0


class RetriesExhausted(Exception):
    """A transient failure outlasted every retry; the job fails and can be replayed."""


def backoff_delay(attempt: int) -> float:
    """30 s, 1 min, 2 min, ... capped at an hour (attempt 1 is the first retry)."""
    return min(defaults.RETRY_MAX_DELAY, defaults.RETRY_BASE_DELAY * 2 ** (attempt - 1))


def paced_delay(attempt: int) -> float:
    """The floor under a provider's own reset time: 1 s, 2 s, 4 s ... capped at an hour
    (twelve attempts then span over an hour even if the provider says "now" each time)."""
    return min(defaults.RETRY_MAX_DELAY, MIN_RETRY_DELAY * 2 ** (attempt - 1))


def _sane(retry_after: float | None) -> float:
    """A provider's reset time, as long as it is a real number within a day."""
    if retry_after is None or not math.isfinite(retry_after):
        return 0.0
    return min(max(0.0, retry_after), MAX_RETRY_AFTER)


def schedule_retry(conn, payload: Payload, job_id: str, queue: str, error: TransientError) -> dict:
    """The same job (its function and payload, ``attempt`` + 1) scheduled again."""
    attempt = int(payload.attempt) + 1
    if attempt > defaults.RETRY_MAX_ATTEMPTS:
        raise RetriesExhausted(f"gave up after {attempt - 1} retries: {error}") from error
    # A provider that says when to come back (Retry-After, Brevo's rate-limit reset) is
    # taken at its word, so calls resume right after the reset rather than after our 30 s
    # backoff; but never faster than 1 s, 2 s, 4 s ... so that a provider answering
    # "retry in 0 s" cannot burn every attempt within seconds.
    if error.retry_after is not None:
        delay = max(paced_delay(attempt), _sane(error.retry_after))
    else:
        delay = backoff_delay(attempt)
    at = datetime.now(timezone.utc) + timedelta(seconds=delay)
    base_id = job_id.split("-retry", 1)[0]
    retry_id = f"{base_id}-retry{attempt}"
    with conn.pipeline() as pipe:
        scheduling.schedule(pipe, conn, at, payload.func, replace(payload, attempt=attempt).to_dict(), retry_id,
                            queue=queue)
        pipe.execute()
    log.warning("%s failed, retry %d in %ds: %s", payload.kind, attempt, delay, safe_message(error),
                extra={"attempt": attempt, "delay": delay, "code": error.code, "retry_job": retry_id})
    return {"status": "retry_scheduled", "attempt": attempt, "delay": delay, "reason": str(error)}


def record_failure(job, error: PermanentError) -> None:
    """The reason, visible on the failed job (``meta["failure"]``) as well as in the log."""
    # Kept with the job for weeks and shown by /admin: the provider's text, values masked.
    job.meta["failure"] = {"provider": error.provider, "code": error.code, "message": safe_text(error.message)}
    job.save_meta()
