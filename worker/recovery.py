"""Jobs whose worker died mid-job go back on their queue.

A worker killed in the middle of a job (SIGKILL, out of memory, a host lost) leaves an
entry for the job in RQ's started registry, with a deadline of JOB_TIMEOUT + 60 s after
the start (no live worker runs a job past its timeout). The scheduler runs this pass
every ABANDONED_CHECK_INTERVAL:

1. Expired entries of the started registries: a job still "started" (or still "queued":
   the worker died between registering the job and marking it started) is put back on its
   queue, in the same transaction that removes the entry; up to MAX_ABANDONED_REQUEUES
   times, then it is failed for an operator to look at. Entries of jobs that finished are
   dropped, as RQ's own cleanup does.
2. RQ's own cleanup (a worker's ten-minute maintenance, or a registry count) may have got
   there first and failed the job as abandoned; with WORKER_CLASS=fork a killed child is
   failed by its parent. Such failures since the previous pass (with a generous overlap,
   on Redis's clock) are requeued the same way.

Requeueing is safe because every side effect is guarded by its send-once key
(``worker/idempotency.py``): the dead run's in-flight lease (JOB_TIMEOUT + 30 s) has
expired by then, the re-run claims it and calls the provider. The one window that can
send twice: the provider had accepted the call and the worker died before it wrote the
"sent" marker. A job popped from its queue by a worker killed before it registered the
job (a millisecond between the two) is seen too: the relay's take enters it in the started
registry as ``<id>:taken`` in the same step (worker/rq_bookkeeping.py), due after the job's
timeout and a minute, and the job, still "queued", is requeued from there.
"""

from __future__ import annotations

import logging

from rq import Queue
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.registry import FailedJobRegistry, StartedJobRegistry

from shared import keys, stats
from shared import defaults
from shared.redis_conn import REDIS_UNREACHABLE
from shared.scrub import safe_message

log = logging.getLogger("relay.recovery")

ABANDONED = "AbandonedJobError"
"""How RQ's cleanup names the cause in the failure it records."""
DIED = (ABANDONED, "Work-horse terminated unexpectedly")
"""Failures that say the process running the job died (the second: WORKER_CLASS=fork,
its child killed, e.g. by the out-of-memory killer)."""
RECOVERABLE = (JobStatus.STARTED, JobStatus.QUEUED)
OVERLAP = 15 * 60
"""Failures of this long before the previous pass are looked at again: RQ's maintenance
runs every ten minutes and stamps failures with its own host's clock."""
FIRST_LOOKBACK = 3600
"""With no previous pass on record, failures of the last hour are looked at."""
BATCH = 500
"""Expired started entries handled per queue and pass (the rest in the next pass, 15 s
later), so a pass stays short: it holds the scheduler's lock."""
FAILED_BATCH = 5000
"""Failures looked at per queue and pass: all of them short of a storm (they are the
failures since the previous pass, less than a second's work each to read)."""


def recover_abandoned(conn, queue_names=defaults.WORKER_QUEUES) -> list[str]:
    """Requeue the jobs abandoned by dead workers; return their ids."""
    now = _redis_time(conn)
    last = conn.get(keys.RECOVERY_PASS)
    since = float(last) - OVERLAP if last else now - FIRST_LOOKBACK
    requeued = []
    for name in queue_names:
        queue = Queue(name, connection=conn)
        started = StartedJobRegistry(name, connection=conn)
        for entry in conn.zrangebyscore(started.key, 0, now, start=0, num=BATCH):
            requeued += _isolated(_recover_started, conn, queue, started, entry.decode())
        failed = FailedJobRegistry(name, connection=conn)
        # The failed registry scores by expiry: failed at t means t + failure_ttl.
        recent = conn.zrangebyscore(failed.key, since + defaults.FAILED_JOB_TTL, "+inf", start=0, num=FAILED_BATCH)
        if len(recent) == FAILED_BATCH:
            log.warning("more than %d failures in %s since the last pass; the oldest are looked at first",
                        FAILED_BATCH, name)
        for raw in recent:
            requeued += _isolated(_recover_failed, conn, queue, failed, raw.decode())
    conn.set(keys.RECOVERY_PASS, now)
    return requeued


def _isolated(recover, conn, queue, registry, entry) -> list[str]:
    """One odd job (gone meanwhile, unreadable) must not stop the pass; Redis down does."""
    try:
        return [job_id] if (job_id := recover(conn, queue, registry, entry)) else []
    except REDIS_UNREACHABLE:
        raise
    except Exception as error:  # noqa: BLE001 (logged, and the next pass tries again)
        log.error("recovery skipped %s: %s", entry, safe_message(error), extra={"error": type(error).__name__})
        return []


def _recover_started(conn, queue, registry: StartedJobRegistry, entry: str) -> str | None:
    job = Job.fetch_many([registry.parse_job_id(entry)], connection=conn)[0]
    if job is None or job.get_status(refresh=False) not in RECOVERABLE:
        conn.zrem(registry.key, entry)  # finished or gone: only the entry was left behind
        return None
    return _requeue(conn, queue, job, remove=(registry.key, entry))


def _recover_failed(conn, queue, registry: FailedJobRegistry, job_id: str) -> str | None:
    job = Job.fetch_many([job_id], connection=conn)[0]
    if job is None or job.meta.get("abandoned_failed"):
        return None
    result = job.latest_result()
    if result is None or not any(cause in (result.exc_string or "") for cause in DIED):
        return None
    return _requeue(conn, queue, job, remove=(registry.key, job_id))


def _requeue(conn, queue, job, remove: tuple[str, str]) -> str | None:
    """Back on its queue, in one transaction with the removal of its registry entry: no
    crash in between can leave the job in neither place."""
    times = int(job.meta.get("abandoned", 0)) + 1
    key, member = remove
    with conn.pipeline() as pipe:
        pipe.multi()
        pipe.zrem(key, member)
        if times > defaults.MAX_ABANDONED_REQUEUES:
            job.meta["abandoned_failed"] = True
            job.save(pipeline=pipe)
            record_job_failure(job, f"{ABANDONED}: its worker died {times} times running it; left failed", pipe)
        else:
            job.meta["abandoned"] = times
            job.started_at = job.ended_at = None
            queue.enqueue_job(job, pipeline=pipe)
        pipe.execute()
    if times > defaults.MAX_ABANDONED_REQUEUES:
        log.error("job %s killed its worker %d times; left failed", job.id, times - 1, extra={"job": job.id})
        return None
    stats.count(conn, "recovered", "abandoned_job")
    log.warning("job %s was abandoned by a dead worker; requeued (%d of %d)", job.id, times,
                defaults.MAX_ABANDONED_REQUEUES, extra={"job": job.id, "queue": queue.name})
    return job.id


def _redis_time(conn) -> float:
    seconds, micros = conn.time()
    return seconds + micros / 1_000_000
