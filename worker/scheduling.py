"""rq-scheduler's storage, written inside our own Redis transactions.

``Scheduler.enqueue_at`` and ``Scheduler.cancel`` each talk to Redis directly, so they
cannot join the MULTI/EXEC that also writes the booking record. These helpers do what
they do (a job hash with status "scheduled" and origin = the target queue, plus its
score in ``rq:scheduler:scheduled_jobs``) on a pipeline instead. Scheduling the same id
again overwrites the job and moves its score: one job per (invitee, kind, offset).
"""

from __future__ import annotations

from datetime import datetime

from rq.job import Job, JobStatus
from rq_scheduler import Scheduler
from rq_scheduler.utils import to_unix

from shared import settings as defaults


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
    # job.save() would also write RQ's empty placeholder fields ("", seven of them); a
    # pending reminder lives in Redis for days, so it is written without them (RQ reads
    # a missing field as empty). DEL first: rescheduling the same id replaces the job.
    mapping = {field: value for field, value in job.to_dict().items() if value != ""}
    pipe.delete(job.key)
    pipe.hset(job.key, mapping=mapping)
    pipe.zadd(Scheduler.scheduled_jobs_key, {job_id: to_unix(at)})


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
