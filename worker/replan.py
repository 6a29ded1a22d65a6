"""Planning again the pending reminders and follow-ups of every active future booking, so
that they follow a change of configuration (REMINDER_OFFSETS, FOLLOWUP_DELAY, templates,
RELAY_CONFIG's event types, ...): what the current configuration plans for a booking
(worker/messages.py ``reminder_jobs``, the function that planned them in the first place)
is compared with the booking's pending jobs in rq-scheduler, and the difference applied.

Each booking is one WATCH/MULTI transaction, as applying a delivery is (worker/apply.py):
it watches the booking record and the jobs' hashes, reads them, and writes the record and
the jobs together. A delivery applied meanwhile (a cancellation), the scheduler releasing
one of the jobs, or another replan touching the same booking makes it start again from a
fresh read, so nothing is planned for a booking cancelled meanwhile, and a record never
loses the id of a job it has. The worker applies deliveries under WATCH, not under a lock,
so a lock here would not keep it out; the transaction does.

What is left alone: a job already due (rq-scheduler releases it in its next pass), a job
released and not finished (queued or running), and a message whose send-once key exists
(sent, or being sent): a reminder already sent is not planned again.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from redis.exceptions import WatchError
from rq.job import Job
from rq_scheduler import Scheduler

from shared import defaults, keys, ledger, optouts
from shared.booking import BookingRecord, BookingStore
from shared.settings import Settings
from shared.vocabulary import BookingStatus, LedgerEvent
from worker import scheduling
from worker.apply import MAX_TRANSACTION_ATTEMPTS
from worker.messages import message_key, reminder_jobs, reminder_message_key
from worker.payloads import JobSpec

log = logging.getLogger("relay.replan")

RELEASED = {"queued", "started", "deferred"}
"""RQ statuses of a job the scheduler has released and a worker has not finished."""

ADDED, REMOVED, MOVED = "added", "removed", "moved"
REPLANNED = "replanned"
"""The ledger's skip reason of a pending job the new configuration no longer plans (as
worker/apply.py writes for a job a reschedule removed)."""
OPTED_OUT = "opted_out"


class BookingBusy(Exception):
    """The booking's record or jobs changed under every attempt; the next replan retries it."""


@dataclass(frozen=True)
class JobChange:
    change: str
    """``added``, ``removed`` or ``moved``."""
    job_id: str
    before: datetime | None = None
    after: datetime | None = None

    @property
    def label(self) -> str:
        """``reminder-3600`` or ``followup-after``: the job id without the booking digest."""
        return self.job_id.rsplit("-", 1)[0]


@dataclass(frozen=True)
class BookingReplan:
    booking: str
    """The invitee URI's digest (keys.digest), never the URI itself: it is shown and logged."""
    changes: tuple[JobChange, ...]


@dataclass
class ReplanSummary:
    dry_run: bool = False
    bookings: int = 0
    """Active future bookings looked at."""
    changed: list[BookingReplan] = field(default_factory=list)
    busy: int = 0
    """Bookings left as they were because they kept changing meanwhile (retried next time)."""

    @property
    def complete(self) -> bool:
        return self.busy == 0

    def count(self, change: str) -> int:
        return sum(1 for item in self.changed for job in item.changes if job.change == change)

    def line(self) -> str:
        verb = "would change" if self.dry_run else "changed"
        busy = f", {self.busy} busy (left for the next replan)" if self.busy else ""
        return (f"replan: {self.bookings} active future booking(s) looked at, {len(self.changed)} {verb}: "
                f"{self.count(ADDED)} added, {self.count(REMOVED)} removed, {self.count(MOVED)} moved{busy}")


def replan_all(conn, settings: Settings, *, dry_run: bool = False, now: datetime | None = None,
               batch_size: int = defaults.REPLAN_BATCH_SIZE, after_batch=None) -> ReplanSummary:
    """Every active booking starting after ``now``, in batches; ``after_batch()`` runs after
    each (the scheduler renews its lock there). Progress goes to the log, counts only.
    ``now`` fixes the clock (tests); otherwise each booking is planned at its own moment, so
    that a long replan neither plans in the past nor mistakes a job fallen due for a pending one."""
    clock = (lambda: now) if now is not None else (lambda: datetime.now(timezone.utc))
    summary = ReplanSummary(dry_run=dry_run)
    start = clock()
    total = conn.zcount(keys.UPCOMING, start.timestamp(), "+inf")
    log.info("replan started: %d active future booking(s)%s", total, " (dry run)" if dry_run else "",
             extra={"bookings": total, "dry_run": dry_run})
    for batch in BookingStore(conn).active_from(start, batch_size):
        for uri in batch:
            summary.bookings += 1
            try:
                result = replan_booking(conn, uri, settings, clock(), dry_run=dry_run)
            except BookingBusy:
                summary.busy += 1
                continue
            if result is not None and result.changes:
                summary.changed.append(result)
        log.info("replan progress: %d/%d booking(s), %d changed", summary.bookings, total, len(summary.changed),
                 extra={"done": summary.bookings, "bookings": total, "changed": len(summary.changed)})
        if after_batch is not None:
            after_batch()
    log.info("%s", summary.line(), extra={"bookings": summary.bookings, "changed": len(summary.changed),
                                          ADDED: summary.count(ADDED), REMOVED: summary.count(REMOVED),
                                          MOVED: summary.count(MOVED), "busy": summary.busy, "dry_run": dry_run})
    return summary


def replan_booking(conn, invitee_uri: str, settings: Settings, now: datetime, *,
                   dry_run: bool = False) -> BookingReplan | None:
    """One booking, atomically; None when it is no longer active and ahead."""
    record_key = keys.booking(invitee_uri)
    with conn.pipeline() as pipe:
        for _ in range(MAX_TRANSACTION_ATTEMPTS):
            try:
                pipe.watch(record_key)
                record = BookingStore(pipe).load(invitee_uri)
                if record is None or record.status != BookingStatus.ACTIVE or record.start is None \
                        or record.start <= now:
                    pipe.unwatch()
                    return None
                # An opted-out number keeps no pending reminder (worker/optout.py removed them):
                # a replan must not bring them back.
                opted_out = record.phone is not None and optouts.is_opted_out(pipe, record.phone)
                wanted = {} if opted_out else planned(record, settings, now)
                ids = list(dict.fromkeys([*record.reminder_jobs, *wanted]))
                pipe.watch(record_key, *(Job.key_for(job_id) for job_id in ids))
                changes, schedule = _differences(pipe, record, wanted, now)
                if dry_run or not changes:
                    pipe.unwatch()
                    return BookingReplan(keys.digest(invitee_uri), tuple(changes))
                removed = {c.job_id for c in changes if c.change == REMOVED}
                added = [c.job_id for c in changes if c.change == ADDED]
                kept = tuple(job_id for job_id in record.reminder_jobs if job_id not in removed)
                pipe.multi()
                # Written even when its ids are the same: the write is what makes a delivery
                # applied meanwhile (it watches the record) start again and see these jobs.
                BookingStore(pipe).save(record.evolve(reminder_jobs=kept + tuple(added)), now, client=pipe)
                scheduling.unschedule(pipe, removed)
                for spec in schedule:
                    scheduling.schedule(pipe, conn, spec.at, spec.func, spec.data, spec.job_id)
                _record_in_ledger(pipe, record, changes, schedule, now,
                                  OPTED_OUT if opted_out else REPLANNED)
                pipe.execute()
                return BookingReplan(keys.digest(invitee_uri), tuple(changes))
            except WatchError:
                continue
    raise BookingBusy(keys.digest(invitee_uri))


def planned(record: BookingRecord, settings: Settings, now: datetime) -> dict[str, JobSpec]:
    """What the configuration plans for this booking now, by job id: the same function that
    planned it when its delivery was applied. A job it now plans at a time already past is
    not planned, as for a booking made now."""
    return {spec.job_id: spec for spec in reminder_jobs(record, settings, now)[0]}


def _differences(pipe, record: BookingRecord, wanted: dict[str, JobSpec],
                 now: datetime) -> tuple[list[JobChange], list[JobSpec]]:
    """The changes, and the jobs to (re)schedule for them."""
    changes: list[JobChange] = []
    schedule: list[JobSpec] = []
    for job_id in dict.fromkeys([*record.reminder_jobs, *wanted]):
        due = pipe.zscore(Scheduler.scheduled_jobs_key, job_id)
        before = datetime.fromtimestamp(due, timezone.utc) if due is not None else None
        if before is not None and due <= now.timestamp():
            continue  # due: rq-scheduler releases it in its next pass, whatever the configuration
        spec = wanted.get(job_id)
        if spec is None:
            if before is not None:
                changes.append(JobChange(REMOVED, job_id, before=before))
            continue
        if before is None:
            if _released(pipe, job_id) or _sent_or_sending(pipe, spec, record):
                continue
            changes.append(JobChange(ADDED, job_id, after=spec.at))
            schedule.append(spec)
        elif int(due) != math.ceil(spec.at.timestamp()):
            changes.append(JobChange(MOVED, job_id, before=before, after=spec.at))
            schedule.append(spec)
    return changes, schedule


def _record_in_ledger(pipe, record: BookingRecord, changes: list[JobChange], schedule: list[JobSpec],
                      now: datetime, reason: str) -> None:
    """The changes in the messages' ledger entries, in the same transaction, as a delivery
    records its own (worker/apply.py): a job added or moved is planned again (its new due
    time, and why it moved), a job removed is skipped. Else /admin and ``relay messages``
    would show a removed reminder as planned for good, and a moved one at its old time."""
    at = now.timestamp()
    for spec in schedule:
        if spec.planned:
            ledger.record_planned(pipe, spec.planned, due=spec.at.timestamp(), at=at)
    for change in changes:
        key = reminder_message_key(change.job_id, record.invitee_uri) if change.change == REMOVED else None
        if key:
            ledger.record(pipe, ledger.message_id(key), LedgerEvent.SKIPPED, at=at, reason=reason)


def _released(pipe, job_id: str) -> bool:
    status = pipe.hget(Job.key_for(job_id), "status")
    return status is not None and status.decode() in RELEASED


def _sent_or_sending(pipe, spec: JobSpec, record: BookingRecord) -> bool:
    """The message's send-once key exists: sent already, or a worker is sending it."""
    return bool(pipe.exists(keys.sent(message_key(spec.payload.kind, spec.payload.offset, record.invitee_uri))))
