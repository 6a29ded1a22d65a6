"""From decided actions to side-effect jobs: who receives what, with which params, when.

Each job carries plain JSON data and an idempotency ``key`` that names the side effect
(this kind of SMS to this recipient for this invitee; this CRM change at this time).
The job id derives from the key, and the job claims the key before it calls the
provider, so a re-run of ``process_event`` or a redelivery never sends twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import defaults
from shared.booking import BookingRecord
from shared.calendly.payloads import Delivery, Invitee
from shared.durations import in_words
from shared.keys import digest
from shared.phone import normalize
from shared.relay_config import match_event_type
from shared.settings import Settings
from shared.timefmt import format_meeting_time, zone_or_default
from shared.vocabulary import ContactStatus, Recipient, SmsKind
from worker import toll_fraud
from worker.policy import policy_for
from worker.lifecycle import (
    CancelScheduled,
    ScheduleReminders,
    SendSms,
    SyncContact,
    SyncLead,
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

SEND_SMS_FUNC = "worker.jobs.send_sms"
SEND_REMINDER_FUNC = "worker.jobs.send_reminder"
SYNC_CRM_FUNC = "worker.jobs.sync_crm"


@dataclass(frozen=True)
class JobSpec:
    queue: str
    func: str
    data: dict[str, Any]
    job_id: str


@dataclass(frozen=True)
class ScheduledSpec:
    """A job for rq-scheduler: runs at ``at`` (aware UTC) on the reminders queue."""

    at: datetime
    func: str
    data: dict[str, Any]
    job_id: str


@dataclass(frozen=True)
class Skipped:
    what: str
    reason: str
    phone: str | None = field(default=None, compare=False)
    """The number refused, for the log (masked there), when a number was the reason."""


@dataclass
class Plan:
    jobs: list[JobSpec] = field(default_factory=list)
    scheduled: dict[str, list[ScheduledSpec]] = field(default_factory=dict)
    """Per invitee: the reminder jobs to schedule (the record keeps their ids)."""
    unscheduled: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per invitee: the ids of pending jobs to remove."""
    skipped: list[Skipped] = field(default_factory=list)

    def add(self, result: JobSpec | Skipped) -> None:
        (self.jobs if isinstance(result, JobSpec) else self.skipped).append(result)


def plan_jobs(actions, records: dict[str, BookingRecord], delivery: Delivery, settings: Settings,
              now: datetime) -> Plan:
    plan = Plan()
    for action in actions:
        if isinstance(action, SendSms):
            plan.add(sms_job(action, records[action.invitee_uri], settings))
        elif isinstance(action, SyncContact):
            plan.add(contact_job(action, records[action.invitee_uri], delivery, settings))
        elif isinstance(action, SyncLead):
            plan.add(lead_job(action, settings))
        elif isinstance(action, ScheduleReminders):
            specs, skipped = reminder_jobs(records[action.invitee_uri], settings, now)
            plan.scheduled[action.invitee_uri] = specs
            plan.skipped.extend(skipped)
        elif isinstance(action, CancelScheduled):
            record = records.get(action.invitee_uri)
            plan.unscheduled[action.invitee_uri] = record.reminder_jobs if record else ()
        else:  # pragma: no cover - the lifecycle only returns the types above
            raise TypeError(f"unknown action {action!r}")
    return plan


def template_for(kind: str, record: BookingRecord, settings: Settings) -> tuple[bool, str | None]:
    return policy_for(settings, record.event_type_uri, record.event_type_name).template(kind, settings.sms_backend)


def sms_job(action: SendSms, record: BookingRecord, settings: Settings) -> JobSpec | Skipped:
    what = f"sms:{action.kind}:{action.recipient}"
    kind = action.kind
    enabled, template_id = template_for(kind, record, settings)
    if not enabled and kind == SmsKind.RESCHEDULE:  # no reschedule template: confirm the new time instead
        kind = SmsKind.CONFIRM
        enabled, template_id = template_for(kind, record, settings)
    if not enabled:
        return Skipped(what, "template_disabled")
    to = recipient_phone(action.recipient, record, settings)
    if isinstance(to, Skipped):
        return Skipped(what, to.reason, to.phone)
    params = message_params(kind, record, settings)
    if isinstance(params, Skipped):
        return Skipped(what, params.reason)
    key = f"sms|{action.kind}|{action.recipient}|{action.invitee_uri}"
    data = {"key": key, "kind": kind.value, "to": to, "params": params, "template": template_id,
            "invitee": action.invitee_uri}
    return JobSpec(defaults.SMS_QUEUE, SEND_SMS_FUNC, data, f"sms-{digest(key)}")


def recipient_phone(recipient: str, record: BookingRecord, settings: Settings) -> str | Skipped:
    if recipient == Recipient.HOST:
        to = normalize(settings.host_phone)
        if to is None:
            return Skipped(recipient, "no_host_phone" if not settings.host_phone else "invalid_host_phone")
        return to
    if record.phone is None:
        return Skipped(recipient, record.phone_issue or "no_phone")
    refused = toll_fraud.refusal(record.phone, settings)
    if refused:
        return Skipped(recipient, refused, phone=record.phone)
    return record.phone


def message_params(kind: str, record: BookingRecord, settings: Settings,
                   advance: timedelta | None = None) -> dict[str, str] | Skipped:
    """The contract's template params: ``name`` always; ``time`` (the start in the
    invitee's zone, formatted for LOCALE) except for cancel, follow-up and no-show;
    ``advance`` (the offset in words) for reminders. ``link`` (cancel, no-show) is added
    when the message is sent (worker/rebook.py)."""
    params = {"name": record.name or ""}
    if kind not in (SmsKind.CANCEL, SmsKind.FOLLOWUP, SmsKind.NO_SHOW):
        if record.start is None:
            return Skipped(kind, "no_start_time")
        zone = zone_or_default(record.timezone, settings.default_timezone)
        params["time"] = format_meeting_time(record.start, zone, settings.locale)
    if advance is not None:
        params["advance"] = in_words(advance, settings.locale)
    return params


def reminder_jobs(record: BookingRecord, settings: Settings, now: datetime) -> tuple[list[ScheduledSpec], list[Skipped]]:
    """Reminders at each offset before the start and the follow-up after the end, for
    those still ahead; offsets already past at booking time are skipped."""
    specs: list[ScheduledSpec] = []
    skipped: list[Skipped] = []
    if record.start is None:
        return specs, [Skipped("sms:reminder", "no_start_time")]
    to = recipient_phone("invitee", record, settings)
    if isinstance(to, Skipped):  # nothing to remind through: keep Redis free of dead jobs
        return specs, [Skipped("sms:reminder", to.reason, to.phone)]
    policy = policy_for(settings, record.event_type_uri, record.event_type_name)
    wanted: list[tuple[str, datetime, int | None]] = [
        (SmsKind.REMINDER, record.start - offset, int(offset.total_seconds())) for offset in policy.reminder_offsets
    ]
    if policy.followup_delay is not None:
        wanted.append((SmsKind.FOLLOWUP, (record.end or record.start) + policy.followup_delay, None))
    for kind, at, offset in wanted:
        what = f"sms:{kind}" + (f":{offset}s" if offset is not None else "")
        if not policy.template(kind, settings.sms_backend)[0]:
            skipped.append(Skipped(what, "template_disabled"))
        elif at <= now:
            skipped.append(Skipped(what, "already_past"))
        else:
            specs.append(scheduled_message(record, kind, at, offset))
    return specs, skipped


def scheduled_message(record: BookingRecord, kind: str, at: datetime, offset: int | None) -> ScheduledSpec:
    """A pending reminder (``offset`` seconds before the start) or follow-up (``offset``
    None). Its data is kept small, because every pending one lives in Redis until due:
    the booking by digest, times as unix seconds; the message key is derived when it fires."""
    data = {
        "booking": digest(record.invitee_uri),
        "kind": kind.value,
        "offset": offset,
        "start": int(record.start.timestamp()),
        "due": int(at.timestamp()),
    }
    return ScheduledSpec(at, SEND_REMINDER_FUNC, data, scheduled_job_id(kind, offset, record.invitee_uri))


def scheduled_job_id(kind: str, offset: int | None, invitee_uri: str) -> str:
    """Deterministic per (invitee, kind, offset): scheduling twice leaves one job."""
    return f"{kind}-{offset if offset is not None else 'after'}-{digest(invitee_uri)[:32]}"


def scheduled_message_key(kind: str, offset: int | None, invitee_uri: str) -> str:
    return f"sms|{kind}|{offset if offset is not None else 'after'}|{invitee_uri}"


def contact_job(action: SyncContact, record: BookingRecord, delivery: Delivery, settings: Settings) -> JobSpec | Skipped:
    what = f"crm:{action.status}"
    if settings.crm_backend == "off":
        return Skipped(what, "crm_off")
    if not record.email:
        return Skipped(what, "no_email")
    answers = ()
    if isinstance(delivery.payload, Invitee) and delivery.payload.uri == record.invitee_uri:
        answers = delivery.payload.questions_and_answers
    contact = {
        "email": record.email,
        "name": record.name,
        "phone": record.phone,
        "status": action.status.value,
        "event_type_uri": record.event_type_uri,
        "event_type_name": record.event_type_name,
        "scheduled_at": record.start.isoformat() if record.start else None,
        "join_url": record.join_url,
        "timezone": record.timezone,
        "answers": [list(pair) for pair in answers],
        "lists": list_ids(record, action.status, settings),
        "changed_at": action.changed_at.isoformat(),
    }
    key = f"crm|{action.status}|{action.invitee_uri}|{action.change_id}"
    data = {
        "key": key,
        "kind": "contact",
        "contact": contact,
        "event": action.status.crm_event,
        "invitee": action.invitee_uri,
    }
    return JobSpec(defaults.CRM_QUEUE, SYNC_CRM_FUNC, data, f"crm-{digest(key)}")


def list_ids(record: BookingRecord, status: str, settings: Settings) -> list[int]:
    """``event_mapping``: the event type's Brevo list, joined when the booking is made."""
    if status not in (ContactStatus.BOOKED, ContactStatus.RESCHEDULED):
        return []
    list_id = match_event_type(settings.relay_config.event_mapping, record.event_type_uri, record.event_type_name)
    return [list_id] if list_id else []


def lead_job(action: SyncLead, settings: Settings) -> JobSpec | Skipped:
    submission = action.submission
    if settings.crm_backend == "off":
        return Skipped("crm:lead", "crm_off")
    email = next((a.strip() for _, a in submission.questions_and_answers if EMAIL.match(a.strip())), None)
    if not email:
        return Skipped("crm:lead", "no_email")
    name = next((a.strip() for q, a in submission.questions_and_answers if "name" in q.lower() and a.strip()), None)
    contact = {  # no booking status: a lead may also have booked, and that status stands
        "email": email,
        "name": name,
        "answers": [list(pair) for pair in submission.questions_and_answers],
        "lists": [],
        "changed_at": None,
    }
    key = f"crm|lead|{submission.uri}"
    data = {"key": key, "kind": "lead", "contact": contact, "event": None, "submission": submission.uri}
    return JobSpec(defaults.CRM_QUEUE, SYNC_CRM_FUNC, data, f"crm-{digest(key)}")
