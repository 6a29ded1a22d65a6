"""Applying a delivery, the whole of it: load the booking records, let the lifecycle decide
(worker/lifecycle.py, pure), plan the side-effect jobs, commit.

The commit is one Redis transaction guarded by WATCH on the records read: the records, the
jobs to run now, the reminders to schedule and those to remove are written together or not
at all, so a crash or a re-run can neither lose nor repeat a side effect; a record changed
meanwhile by another worker (the other half of a reschedule) starts the decision again.
Live webhooks, backfill and reconciliation all come through here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import WatchError
from rq import Queue

from shared import defaults, keys, ledger, optouts, stats, waiting
from shared.booking import BookingRecord, BookingStore
from shared.calendly.payloads import Delivery, PayloadError, parse_delivery
from shared.calendly.schemas import MAX_TEXT
from shared.errors import RelayError
from shared.phone import normalize
from shared.settings import Settings
from worker import lifecycle, scheduling, toll_fraud
from worker.actions import CancelScheduled, ScheduleReminders, SendSms, SyncContact, SyncLead
from worker.crm.contacts import contact_job, lead_job
from worker.messages import notice_job, reminder_jobs, reminder_message_key
from worker.payloads import JobSpec, Skipped, SmsPayload
from shared.vocabulary import BookingStatus, LedgerEvent

log = logging.getLogger("relay.worker")

OPTED_OUT = "opted_out"
MAX_TRANSACTION_ATTEMPTS = 20
"""WATCH conflicts happen when two halves of a reschedule are processed at once; each
retry re-reads the records, so a handful of attempts always suffices in practice."""


class UnusableDelivery(RelayError):
    """The delivery was accepted but the worker cannot use it. Its job fails, so it shows in
    /admin and ``relay failed list`` and can be replayed once the relay can read it; a
    delivery is never dropped quietly."""


@dataclass
class Plan:
    records: dict[str, BookingRecord] = field(default_factory=dict)
    """Records whose pending reminder jobs change, with their new ids (a record keeps them,
    so that a cancellation removes exactly those, whatever the configuration says by then)."""
    jobs: list[JobSpec] = field(default_factory=list)
    scheduled: dict[str, list[JobSpec]] = field(default_factory=dict)
    """Per invitee: the reminder jobs to schedule (the record keeps their ids)."""
    unscheduled: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per invitee: the ids of pending jobs to remove."""
    skipped: list[Skipped] = field(default_factory=list)

    def add(self, result: JobSpec | Skipped) -> None:
        (self.jobs if isinstance(result, JobSpec) else self.skipped).append(result)


def apply_envelope(conn, envelope: Any, settings: Settings) -> dict[str, Any]:
    """A delivery as the receiver enqueued it: parsed, then applied."""
    try:
        delivery = parse_delivery(envelope)
    except PayloadError as error:
        stats.count(conn, "deliveries_unusable", error.field)
        waiting.forget(conn, envelope)  # it will not be applied: its bookings' notices need not wait
        event = envelope.get("event") if isinstance(envelope, dict) else None
        log.error("delivery unusable: %s", error,
                  extra={"event": event if isinstance(event, str) else None, "field": error.field})
        raise UnusableDelivery(str(error)) from None
    if delivery.truncated:
        log.warning("delivery has free text over %d characters, cut: %s", MAX_TEXT, ", ".join(delivery.truncated),
                    extra={"event": delivery.event, "truncated": list(delivery.truncated)})
    return apply_delivery(conn, delivery, settings, datetime.now(timezone.utc))


def apply_delivery(conn, delivery: Delivery, settings: Settings, now: datetime) -> dict[str, Any]:
    """Load, decide, plan and commit, atomically; a summary of what was done. In the same
    transaction the delivery stops being one its bookings' notices wait for (shared/waiting.py)."""
    uris = lifecycle.affected_invitees(delivery)
    with conn.pipeline() as pipe:
        for _ in range(MAX_TRANSACTION_ATTEMPTS):
            try:
                if uris:
                    pipe.watch(*(keys.booking(uri) for uri in uris))
                store = BookingStore(pipe)
                stored = {uri: store.load(uri) for uri in uris}
                decision = lifecycle.decide(delivery, stored, now)
                records = {**{u: r for u, r in stored.items() if r}, **decision.records}
                opted_out = optouts.opted_out_among(pipe, _numbers(records, settings))
                plan = plan_jobs(decision.actions, records, delivery, settings, now, opted_out)
                changed = {**decision.records, **plan.records}
                pipe.multi()
                _commit(conn, pipe, plan, changed.values(), now)
                waiting.forget(pipe, delivery.raw)
                pipe.execute()
                break
            except WatchError:
                continue
        else:
            raise RuntimeError("booking records kept changing; giving up this run (it will be retried)")
    summary = {
        "status": "applied",
        "event": delivery.event,
        "records": {keys.digest(u): str(r.status) for u, r in changed.items()},  # plain, as RQ keeps it
        "jobs": [job.job_id for job in plan.jobs],
        "scheduled": [spec.job_id for specs in plan.scheduled.values() for spec in specs],
        "unscheduled": [job_id for ids in plan.unscheduled.values() for job_id in ids],
        # Moved by quiet hours (reminders, follow-ups) or held until they end (notices).
        "moved": [spec.job_id for spec in (*plan.jobs, *(s for specs in plan.scheduled.values() for s in specs))
                  if getattr(spec.payload, "moved", None)],
        "skipped": [f"{s.what}:{s.reason}" for s in plan.skipped],
        "notes": list(decision.notes),
    }
    log.info("delivery applied: %s", delivery.event, extra={k: v for k, v in summary.items() if k != "status"})
    refusals = {(skip.phone, skip.reason): skip.what for skip in plan.skipped if skip.reason in toll_fraud.REASONS}
    for (phone, reason), what in refusals.items():  # one line per number, not per message
        toll_fraud.log_refusal(what, reason, phone)
    return summary


def _numbers(records: dict[str, BookingRecord], settings: Settings) -> set[str]:
    """The numbers this delivery could text: its invitees' and HOST_PHONE."""
    return {record.phone for record in records.values() if record.phone} | {normalize(settings.host_phone)} - {None}


def plan_jobs(actions, records: dict[str, BookingRecord], delivery: Delivery, settings: Settings,
              now: datetime, opted_out: set[str] = frozenset()) -> Plan:
    """The jobs the decided actions lead to; ``records`` are the booking records as they
    will be (stored, with the lifecycle's changes). No message is planned to a number in
    ``opted_out``: each is a skip (``opted_out``) instead."""
    plan = Plan()
    for action in actions:
        if isinstance(action, SendSms):
            notice = notice_job(action.kind, action.recipient, records[action.invitee_uri], settings, now)
            if isinstance(notice, JobSpec) and notice.payload.to in opted_out:
                notice = Skipped(f"sms:{notice.payload.kind}", OPTED_OUT, messages=(notice.planned,))
            plan.add(notice)
        elif isinstance(action, SyncContact):
            plan.add(contact_job(action, records[action.invitee_uri], delivery, settings))
        elif isinstance(action, SyncLead):
            plan.add(lead_job(action, settings))
        elif isinstance(action, ScheduleReminders):
            specs, skipped = reminder_jobs(records[action.invitee_uri], settings, now)
            if specs and records[action.invitee_uri].phone in opted_out:
                skipped.append(Skipped("sms:reminder", OPTED_OUT, messages=tuple(s.planned for s in specs)))
                specs = []
            plan.scheduled[action.invitee_uri] = specs
            plan.skipped.extend(skipped)
        elif isinstance(action, CancelScheduled):
            record = records.get(action.invitee_uri)
            plan.unscheduled[action.invitee_uri] = record.reminder_jobs if record else ()
        else:  # pragma: no cover - the lifecycle only returns the types above
            raise TypeError(f"unknown action {action!r}")
    for uri in plan.unscheduled:
        plan.records[uri] = records[uri].evolve(reminder_jobs=())
    for uri, specs in plan.scheduled.items():
        plan.records[uri] = records[uri].evolve(reminder_jobs=tuple(spec.job_id for spec in specs))
    return plan


def _commit(conn, pipe, plan: Plan, records, now: datetime) -> None:
    """Everything the plan writes, queued on ``pipe`` (inside its MULTI)."""
    store = BookingStore(pipe)
    for record in records:
        store.save(record, now, client=pipe)
    for job_ids in plan.unscheduled.values():
        scheduling.unschedule(pipe, job_ids)
    for specs in plan.scheduled.values():
        for spec in specs:
            scheduling.schedule(pipe, conn, spec.at, spec.func, spec.data, spec.job_id)
    enqueue_jobs(conn, pipe, plan.jobs)
    for skip in plan.skipped:
        _count_skip(pipe, skip.what, skip.reason)
    _record_in_ledger(pipe, plan, now)


def _record_in_ledger(pipe, plan: Plan, now: datetime) -> None:
    """Every SMS decided here, planned or skipped, in the ledger: one command each, in the
    delivery's transaction. A notice is due now; a reminder at its time."""
    at = now.timestamp()
    planned = [spec.planned for spec in plan.jobs if isinstance(spec.payload, SmsPayload) and spec.planned]
    planned += [spec.planned for specs in plan.scheduled.values() for spec in specs if spec.planned]
    for entry in planned:
        ledger.record_planned(pipe, entry, due=at, at=at)
    still_planned = {spec.job_id for specs in plan.scheduled.values() for spec in specs}
    for uri, job_ids in plan.unscheduled.items():  # removed before they fired: why, in their entries
        record = plan.records.get(uri)
        reason = f"booking_{record.status}" if record and record.status != BookingStatus.ACTIVE else "replanned"
        for job_id in job_ids:
            key = reminder_message_key(job_id, uri)
            if key and job_id not in still_planned:
                ledger.record(pipe, ledger.message_id(key), LedgerEvent.SKIPPED, at=at, reason=reason)
    for skip in plan.skipped:
        for entry in skip.messages:
            detail = {name: value for name, value in entry.items() if name not in ("key", "due")}
            ledger.record(pipe, ledger.message_id(entry["key"]), LedgerEvent.SKIPPED, at=at, reason=skip.reason,
                          **detail)


_queues: dict[tuple[int, str], Queue] = {}


def _queue(conn, name: str) -> Queue:
    """One Queue per connection and name: a Queue asks Redis for its version once."""
    key = (id(conn.connection_pool), name)
    if key not in _queues:
        _queues[key] = Queue(name, connection=conn)
    return _queues[key]


def _enqueue(conn, pipe, jobs: list[JobSpec]) -> None:
    by_queue: dict[str, list[JobSpec]] = defaultdict(list)
    for job in jobs:
        by_queue[job.queue].append(job)
    for name, specs in by_queue.items():
        _queue(conn, name).enqueue_many(
            [
                Queue.prepare_data(
                    spec.func,
                    args=(spec.data,),
                    job_id=spec.job_id,
                    description=f"{spec.func.rsplit('.', 1)[-1]} {spec.payload.kind} {spec.job_id}",
                    timeout=defaults.JOB_TIMEOUT,
                    result_ttl=defaults.SIDE_EFFECT_RESULT_TTL,
                    failure_ttl=defaults.FAILED_JOB_TTL,
                )
                for spec in specs
            ],
            pipeline=pipe,
        )


def enqueue_jobs(conn, pipe, jobs: list[JobSpec]) -> None:
    """Side-effect jobs queued on a pipeline inside its MULTI (a reconfirmation's too); a
    notice waiting out quiet hours goes to rq-scheduler for its time instead."""
    for spec in jobs:
        if spec.at is not None:
            scheduling.schedule(pipe, conn, spec.at, spec.func, spec.data, spec.job_id, queue=spec.queue)
    _enqueue(conn, pipe, [spec for spec in jobs if spec.at is None])


def _count_skip(client, what: str, reason: str) -> None:
    """``what`` is ``sms:<kind>[:...]`` or ``crm:<status>`` (see payloads.Skipped)."""
    channel, _, rest = what.partition(":")
    kind = rest.split(":", 1)[0] or "?"
    stats.count(client, "crm" if channel == "crm" else "sms", kind, "skipped", reason)
