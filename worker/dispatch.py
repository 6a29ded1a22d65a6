"""From decided actions to side-effect jobs: who receives what, with which params.

Each job carries plain JSON data and an idempotency ``key`` that names the side effect
(this kind of SMS to this recipient for this invitee; this CRM change at this time).
The job id derives from the key, and the job claims the key before it calls the
provider, so a re-run of ``process_event`` or a redelivery never sends twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import settings as defaults
from shared.keys import digest
from shared.booking import BookingRecord
from shared.calendly.payloads import Delivery, Invitee
from shared.phone import normalize
from shared.settings import Settings
from shared.timefmt import format_meeting_time, zone_or_default
from worker.lifecycle import (
    CANCEL,
    HOST,
    SendSms,
    SyncContact,
    SyncLead,
)

SEND_SMS_FUNC = "worker.jobs.send_sms"
SYNC_CRM_FUNC = "worker.jobs.sync_crm"

CRM_EVENT_NAMES = {
    "booked": "calendly_booked",
    "cancelled": "calendly_cancelled",
    "rescheduled": "calendly_rescheduled",
    "no_show": "calendly_no_show",
}


@dataclass(frozen=True)
class JobSpec:
    queue: str
    func: str
    data: dict[str, Any]
    job_id: str


@dataclass(frozen=True)
class Skipped:
    what: str
    reason: str


def plan_jobs(
    actions, records: dict[str, BookingRecord], delivery: Delivery, settings: Settings
) -> tuple[list[JobSpec], list[Skipped]]:
    jobs: list[JobSpec] = []
    skipped: list[Skipped] = []
    for action in actions:
        if isinstance(action, SendSms):
            result = sms_job(action, records[action.invitee_uri], settings)
        elif isinstance(action, SyncContact):
            result = contact_job(action, records[action.invitee_uri], delivery, settings)
        elif isinstance(action, SyncLead):
            result = lead_job(action, settings)
        else:  # pragma: no cover - the lifecycle only returns the types above
            raise TypeError(f"unknown action {action!r}")
        (jobs if isinstance(result, JobSpec) else skipped).append(result)
    return jobs, skipped


def sms_job(action: SendSms, record: BookingRecord, settings: Settings) -> JobSpec | Skipped:
    what = f"sms:{action.kind}:{action.recipient}"
    if action.recipient == HOST:
        to = normalize(settings.host_phone)
        if to is None:
            return Skipped(what, "no_host_phone" if not settings.host_phone else "invalid_host_phone")
    else:
        to = record.phone
        if to is None:
            return Skipped(what, record.phone_issue or "no_phone")
    params: dict[str, str] = {"name": record.name or ""}
    if action.kind != CANCEL:
        if record.start is None:
            return Skipped(what, "no_start_time")
        zone = zone_or_default(record.timezone, settings.default_timezone)
        params["time"] = format_meeting_time(record.start, zone, settings.locale)
    key = f"sms|{action.kind}|{action.recipient}|{action.invitee_uri}"
    data = {"key": key, "kind": action.kind, "to": to, "params": params, "invitee": action.invitee_uri}
    return JobSpec(defaults.SMS_QUEUE, SEND_SMS_FUNC, data, f"sms-{digest(key)}")


def contact_job(
    action: SyncContact, record: BookingRecord, delivery: Delivery, settings: Settings
) -> JobSpec | Skipped:
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
        "status": action.status,
        "event_type_uri": record.event_type_uri,
        "event_type_name": record.event_type_name,
        "scheduled_at": record.start.isoformat() if record.start else None,
        "join_url": record.join_url,
        "timezone": record.timezone,
        "answers": [list(pair) for pair in answers],
    }
    key = f"crm|{action.status}|{action.invitee_uri}|{action.changed_at.isoformat()}"
    data = {
        "key": key,
        "kind": "contact",
        "contact": contact,
        "event": CRM_EVENT_NAMES[action.status],
        "invitee": action.invitee_uri,
    }
    return JobSpec(defaults.CRM_QUEUE, SYNC_CRM_FUNC, data, f"crm-{digest(key)}")


def lead_job(action: SyncLead, settings: Settings) -> JobSpec | Skipped:
    submission = action.submission
    if settings.crm_backend == "off":
        return Skipped("crm:lead", "crm_off")
    email = next((a.strip() for _, a in submission.questions_and_answers if "@" in a), None)
    if not email:
        return Skipped("crm:lead", "no_email")
    contact = {
        "email": email,
        "status": "lead",
        "answers": [list(pair) for pair in submission.questions_and_answers],
    }
    key = f"crm|lead|{submission.uri}"
    data = {"key": key, "kind": "lead", "contact": contact, "event": None, "submission": submission.uri}
    return JobSpec(defaults.CRM_QUEUE, SYNC_CRM_FUNC, data, f"crm-{digest(key)}")
