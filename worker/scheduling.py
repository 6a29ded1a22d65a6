"""rq-scheduler's storage, written inside our own Redis transactions.

``Scheduler.enqueue_at`` and ``Scheduler.cancel`` each talk to Redis directly, so they
cannot join the MULTI/EXEC that also writes the booking record. These helpers do what
they do (a job hash with status "scheduled" and origin = the target queue, plus its
score in ``rq:scheduler:scheduled_jobs``) on a pipeline instead. Scheduling the same id
again overwrites the job and moves its score: one job per (invitee, kind, offset).
"""

from __future__ import annotations

import logging
import math
import signal
import time
from datetime import datetime

from redis.exceptions import RedisError
from rq.job import Job, JobStatus
from rq_scheduler import Scheduler
from rq_scheduler.utils import to_unix

from shared import defaults
from worker.recovery import recover_abandoned

log = logging.getLogger("relay.scheduler")


def schedule(pipe, conn, at: datetime, func: str, data: dict, job_id: str,
             queue: str = defaults.REMINDERS_QUEUE) -> None:
    if at.tzinfo is None:
        raise ValueError("scheduled times must be aware UTC datetimes")
    job = Job.create(
        func,
        args=(data,),
        connection=conn,
        id=job_id,
        timeout=defaults.JOB_TIMEOUT,
        result_ttl=defaults.SCHEDULED_JOB_RESULT_TTL,
        failure_ttl=defaults.FAILED_JOB_TTL,
        status=JobStatus.SCHEDULED,
        # RQ's default description is repr(args): bytes in Redis for every pending job.
        description=f"{data.get('kind', func)} {data.get('offset') or ''}".strip(),
    )
    job.origin = queue
    # A pending reminder lives in Redis for days, so its hash holds only what differs
    # from one pending job to the next: not RQ's empty placeholder fields (seven of them),
    # nor the timeout, TTLs and creation time every one-off job shares, which the
    # scheduler sets when it releases the job (BatchScheduler._release). RQ reads a
    # missing field as unset. DEL first: rescheduling the same id replaces the job.
    mapping = {field: value for field, value in job.to_dict().items()
               if value != "" and field not in RELEASE_DEFAULTS}
    pipe.delete(job.key)
    pipe.hset(job.key, mapping=mapping)
    # Rounded up: rq-scheduler keeps whole seconds, and a job released before its time (a
    # retry before the provider's reset, a reminder early) is worse than one a moment late.
    pipe.zadd(Scheduler.scheduled_jobs_key, {job_id: math.ceil(at.timestamp())})


RELEASE_DEFAULTS = {"created_at": None, "timeout": defaults.JOB_TIMEOUT,
                    "result_ttl": defaults.SCHEDULED_JOB_RESULT_TTL, "failure_ttl": defaults.FAILED_JOB_TTL}
"""What every one-off pending job shares, left out of its hash (about 250 bytes of a
reminder's 1,060) and given back when it is released; ``created_at`` becomes the release
time, as RQ reads a job without one."""


def with_release_defaults(job: Job) -> Job:
    """A released one-off job with the settings ``schedule`` left out of its hash (a job
    scheduled before that change carries them already)."""
    if job.timeout is None:
        job.timeout = RELEASE_DEFAULTS["timeout"]
    if job.result_ttl is None:
        job.result_ttl = RELEASE_DEFAULTS["result_ttl"]
    if job.failure_ttl is None:
        job.failure_ttl = RELEASE_DEFAULTS["failure_ttl"]
    return job


def unschedule(pipe, job_ids) -> None:
    """Remove pending jobs from the scheduler's set and delete their data."""
    job_ids = list(job_ids)
    if not job_ids:
        return
    pipe.zrem(Scheduler.scheduled_jobs_key, *job_ids)
    pipe.delete(*(Job.key_for(job_id) for job_id in job_ids))


def scheduled_at(conn, job_id: str) -> float | None:
    """When a job is due (unix seconds), or None when it is not scheduled."""
    return conn.zscore(Scheduler.scheduled_jobs_key, job_id)


BATCH_SIZE = 200


class BatchScheduler(Scheduler):
    """rq-scheduler, releasing due one-off jobs a batch at a time, riding out Redis
    outages, and requeueing jobs abandoned by dead workers.

    rq-scheduler moves each due job with three round trips of its own (about 1.8 ms a job
    here), so a thousand reminders due in the same second took two seconds just to reach
    their queue. This moves up to BATCH_SIZE of them in one transaction. Periodic jobs
    (the hourly check, reconciliation) still go through rq-scheduler's own enqueue_job,
    which also schedules their next run.
    """

    _next_recovery = 0.0
    _stopping = False

    def run(self, burst=False):
        """rq-scheduler's loop, except that:
        - an error ends the pass, not the process (rq-scheduler lets it out and exits):
          nothing is due that a later pass cannot release once Redis is back;
        - SIGTERM and SIGINT end the loop between passes (rq-scheduler's handler raises
          from wherever the signal lands, even inside a Redis call)."""
        self.register_birth()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        try:
            while not self._stopping:
                started = time.time()
                try:
                    self._pass()
                except RedisError as error:
                    log.warning("redis error; the scheduler tries again in %ss: %s", self._interval, error,
                                extra={"error": type(error).__name__})
                except Exception:  # noqa: BLE001 (a bug must not stop reminders for good)
                    log.exception("scheduler pass failed; trying again in %ss", self._interval)
                if burst:
                    return
                pause = self._pause(started)
                while pause > 0 and not self._stopping:
                    time.sleep(min(pause, 0.2))
                    pause -= 0.2
        finally:
            try:
                self.remove_lock()
                self.register_death()
            except RedisError:
                pass
        log.info("scheduler stopped")

    def _pause(self, started: float) -> float:
        """Until the next pass: the interval, or less when a job falls due sooner. Jobs are
        due on whole seconds, so waking at that second rather than at the next tick of a
        fixed interval takes up to a whole interval off a reminder's lateness, at the cost
        of one ZRANGE a pass. A job scheduled meanwhile for sooner waits one interval at most."""
        pause = self._interval - (time.time() - started)
        try:
            first = self.connection.zrange(self.scheduled_jobs_key, 0, 0, withscores=True)
        except RedisError:
            return pause
        # A job already due was left by this pass (another scheduler holds the pass, or it
        # is released at the next): waking early for it would only spin.
        if first and first[0][1] > time.time():
            pause = min(pause, first[0][1] - time.time() + defaults.SCHEDULER_WAKE_MARGIN)
        return pause

    def _stop(self, signum, frame) -> None:
        self._stopping = True

    def _pass(self) -> None:
        self.heartbeat()
        if not self.acquire_lock():
            return  # another scheduler holds this pass
        try:
            self.enqueue_jobs()
            if time.monotonic() >= self._next_recovery:
                recover_abandoned(self.connection)
                self._next_recovery = time.monotonic() + defaults.ABANDONED_CHECK_INTERVAL
            self.heartbeat()
        finally:
            self.remove_lock()

    def enqueue_jobs(self):
        released = []
        while True:
            now = to_unix(datetime.utcnow())
            ids = [raw.decode() for raw in self.connection.zrangebyscore(
                self.scheduled_jobs_key, 0, now, start=0, num=BATCH_SIZE)]
            if not ids:
                return released
            jobs = Job.fetch_many(ids, connection=self.connection)
            gone = [job_id for job_id, job in zip(ids, jobs) if job is None]
            if gone:  # cancelled between the two reads: drop the dangling ids
                self.connection.zrem(self.scheduled_jobs_key, *gone)
            periodic = [job for job in jobs if job is not None and _repeats(job)]
            for job in periodic:
                self.enqueue_job(job)
            one_off = [job for job in jobs if job is not None and not _repeats(job)]
            if one_off:
                self._release(one_off)
            released += periodic + one_off
            if len(ids) < BATCH_SIZE:
                return released

    def _release(self, jobs) -> None:
        queues = {}
        with self.connection.pipeline() as pipe:
            pipe.multi()
            for job in jobs:
                if job.origin not in queues:
                    queues[job.origin] = self.get_queue_for_job(job)
                queues[job.origin].enqueue_job(with_release_defaults(job), pipeline=pipe,
                                               at_front=bool(job.enqueue_at_front))
            pipe.zrem(self.scheduled_jobs_key, *[job.id for job in jobs])
            pipe.execute()


def _repeats(job) -> bool:
    return bool(job.meta.get("interval") or job.meta.get("cron_string"))
