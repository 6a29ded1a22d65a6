"""The CRM jobs a delivery leads to: a booking's contact at each lifecycle change, and a
routing-form lead. Each job carries a snapshot of what Brevo (or the log) is to hold and a
send-once key naming the change, so a re-run writes nothing twice."""

from __future__ import annotations

import re

from shared import defaults
from shared.booking import BookingRecord
from shared.calendly.payloads import Delivery, Invitee
from shared.keys import digest
from shared.relay_config import match_event_type
from shared.settings import Settings
from shared.vocabulary import ContactStatus
from worker.actions import SyncContact, SyncLead
from worker.payloads import CrmPayload, JobSpec, Skipped

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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
    payload = CrmPayload(key=key, kind="contact", contact=contact, event=action.status.crm_event,
                         invitee=action.invitee_uri)
    return JobSpec(payload, f"crm-{digest(key)}", defaults.CRM_QUEUE)


def list_ids(record: BookingRecord, status: ContactStatus, settings: Settings) -> list[int]:
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
    payload = CrmPayload(key=key, kind="lead", contact=contact, event=None, submission=submission.uri)
    return JobSpec(payload, f"crm-{digest(key)}", defaults.CRM_QUEUE)
