"""Jobs whose worker died mid-job go back on their queue.

A worker killed in the middle of a job (SIGKILL, out of memory, a host lost) leaves the
job in RQ's started registry with status "started". When its deadline there passes
(JOB_TIMEOUT + 60 s after it started; no live worker runs a job past its timeout), RQ's
``StartedJobRegistry.cleanup`` moves it to the failed registry as abandoned. This pass,
run by the scheduler every ABANDONED_CHECK_INTERVAL, triggers that cleanup and requeues
each abandoned job, up to MAX_ABANDONED_REQUEUES times.

Requeueing is safe because every side effect is guarded by its send-once key
(``worker/idempotency.py``): the dead run's in-flight lease (JOB_TIMEOUT + 30 s) has
expired by then, the re-run claims it and calls the provider. The one window that can
send twice: the provider had accepted the call and the worker died before it wrote the
"sent" marker (a few milliseconds after the provider's answer).
"""

from __future__ import annotations

import logging
import time

from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from shared import keys, stats
from shared import settings as defaults

log = logging.getLogger("relay.recovery")

ABANDONED = "AbandonedJobError"
"""How RQ's cleanup names the cause in the failure it records."""
LOOKBACK = 24 * 3600
"""With no earlier pass on record, failed jobs of the last day are examined (RQ's own
maintenance may have moved an abandoned job while no scheduler ran); later passes only
look at what failed since the previous one."""
OVERLAP = 60
"""Seconds of the previous pass examined again: clocks of different hosts disagree a little."""


def recover_abandoned(conn, queue_names=defaults.WORKER_QUEUES) -> list[str]:
    """Requeue the jobs abandoned by dead workers; return their ids."""
    started = time.time()
    last = conn.get(keys.RECOVERY_PASS)
    since = float(last) - OVERLAP if last else started - LOOKBACK
    requeued = []
    for name in queue_names:
        StartedJobRegistry(name, connection=conn).cleanup()
        failed = FailedJobRegistry(name, connection=conn)
        # The failed registry scores by expiry: failed at t means score t + failure_ttl.
        for raw in conn.zrangebyscore(failed.key, since + defaults.FAILED_JOB_TTL, "+inf"):
            job_id = raw.decode()
            if _requeue_if_abandoned(conn, failed, job_id):
                requeued.append(job_id)
    conn.set(keys.RECOVERY_PASS, started)
    return requeued


def _requeue_if_abandoned(conn, failed: FailedJobRegistry, job_id: str) -> bool:
    job = Job.fetch_many([job_id], connection=conn)[0]
    if job is None:
        return False
    result = job.latest_result()
    if result is None or ABANDONED not in (result.exc_string or ""):
        return False
    times = int(job.meta.get("abandoned", 0)) + 1
    if times > defaults.MAX_ABANDONED_REQUEUES:
        return False
    job.meta["abandoned"] = times
    job.save_meta()
    failed.requeue(job_id)
    stats.count(conn, "recovered", "abandoned_job")
    log.warning("job %s was abandoned by a dead worker; requeued (%d of %d)", job_id, times,
                defaults.MAX_ABANDONED_REQUEUES, extra={"job": job_id, "queue": failed.name})
    return True
