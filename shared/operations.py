"""What an operator looks at and acts on: upcoming reminders, failed jobs and their replay.
Used by the ``relay`` CLI and by the admin page, so both say the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq_scheduler import Scheduler

from shared import defaults, waiting
from shared.booking import BookingStore
from shared.durations import in_words
from shared.scrub import safe_text, scrub


@dataclass(frozen=True)
class Upcoming:
    job_id: str
    due: datetime
    kind: str
    detail: str
    booking_status: str | None
    moved: str | None = None
    """Why it is not due when its offset said (``quiet_hours``), when something moved it."""
    wanted: datetime | None = None
    """When it was due before the move (a reminder's or follow-up's own time)."""
    booking: str | None = None
    """The digest of the booking the job is for (its /admin page), when it is for one."""

    @property
    def move(self) -> str:
        """``moved from 2026-12-02 02:30 UTC (quiet_hours)``, or empty."""
        if not self.moved:
            return ""
        return f"moved from {self.wanted:%Y-%m-%d %H:%M} UTC ({self.moved})" if self.wanted else f"held ({self.moved})"


@dataclass(frozen=True)
class Failure:
    job_id: str
    queue: str
    func: str
    reason: str
    failed_at: datetime | None


def job_argument(job: Job | None) -> dict:
    """A job's first argument when it is a dict (a delivery's envelope, a message's spec),
    else an empty one: what a missing job, or one of another shape, reads as."""
    return job.args[0] if job is not None and job.args and isinstance(job.args[0], dict) else {}


def upcoming(conn, limit: int = 50) -> list[Upcoming]:
    """The next jobs rq-scheduler will release: reminders, follow-ups, retries, checks."""
    entries = conn.zrange(Scheduler.scheduled_jobs_key, 0, limit - 1, withscores=True)
    jobs = Job.fetch_many([job_id.decode() for job_id, _ in entries], connection=conn)
    store = BookingStore(conn)
    found = []
    for (job_id, score), job in zip(entries, jobs):
        data = job_argument(job)
        kind = data.get("kind") or (job.func_name.rsplit(".", 1)[-1] if job is not None else "?")
        detail = f"{in_words(timedelta(seconds=data['offset']), 'en_US')} before the start" if data.get("offset") else (
            "after the meeting" if kind == "followup" else (job.description or "") if job is not None else "")
        if data.get("attempt"):
            detail += f" (retry {data['attempt']})"
        record = store.load_by_digest(data["booking"]) if data.get("booking") else None
        wanted = datetime.fromtimestamp(data["wanted"], timezone.utc) if data.get("wanted") else None
        found.append(Upcoming(job_id.decode(), datetime.fromtimestamp(score, timezone.utc), kind, detail.strip(),
                              record.status if record else None, data.get("moved"), wanted,
                              data.get("booking") if record else None))
    return found


def failures(conn, limit: int = 100) -> list[Failure]:
    found = []
    for name in defaults.WORKER_QUEUES:
        registry = FailedJobRegistry(name, connection=conn)
        for job in Job.fetch_many(registry.get_job_ids(0, limit - 1), connection=conn):
            if job is not None:
                found.append(Failure(job.id, name, job.func_name.rsplit(".", 1)[-1], failure_reason(job), job.ended_at))
    return sorted(found, key=lambda f: f.failed_at or datetime.min.replace(tzinfo=timezone.utc), reverse=True)


def failure_reason(job: Job) -> str:
    """The provider's code and message when the relay recorded them, else the last line
    of the exception."""
    failure = job.meta.get("failure")
    if failure:
        code = f" {failure.get('code')}" if failure.get("code") is not None else ""
        return safe_text(f"{failure.get('provider')}{code}: {failure.get('message')}")
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return scrub(lines[-1][:300]) if lines else "unknown"  # the worker stored a safe traceback


def retry_failed(conn, job_id: str) -> Job:
    """Put a failed job back on its queue with a fresh retry budget (the cause is meant
    to be fixed by now: a template approved, a credential corrected)."""
    try:
        job = Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        raise LookupError(f"no job {job_id}") from None
    registry = FailedJobRegistry(job.origin, connection=conn)
    if job.id not in registry:
        raise LookupError(f"job {job_id} is not in the failed registry")
    argument = job_argument(job)
    if "attempt" in argument:
        job.args = (dict(argument, attempt=0), *job.args[1:])
    job.meta.pop("failure", None)
    job.save()
    if job.origin == defaults.EVENTS_QUEUE and argument:
        # Its bookings' notices wait for it again, from before it is back on the queue: held
        # after, a notice checked in between would go out ahead of the delivery (a held
        # member whose job never runs is dropped by the next notice, shared/waiting.py).
        waiting.hold(conn, argument, job.id)
    try:
        registry.requeue(job)
    except InvalidJobOperation:
        raise LookupError(f"job {job_id} is no longer failed") from None
    return job


def retry_all_failed(conn) -> list[str]:
    return [retry_failed(conn, failure.job_id).id for failure in failures(conn, limit=10_000)]


def queue_depths(conn) -> dict[str, int]:
    return {name: Queue(name, connection=conn).count for name in defaults.WORKER_QUEUES}
