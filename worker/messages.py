"""SMS messages: rendering one (its template, recipient, params and send-once key), and the
jobs that send them, now or at a reminder's time.

``render`` is the one way a message is made: when a delivery is applied (confirmations and
notices, sent at once) and when a reminder or follow-up fires (rendered then, from the
booking as it is by that time). Each message has a send-once key, ``sms|<kind>|<slot>|<invitee
URI>``, the slot being the recipient of a notice (``invitee``, ``host``) or the offset of a
reminder (seconds before the start, ``after`` for the follow-up); keys of messages sent before
an upgrade read the same, so nothing is sent again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared import defaults, ledger
from shared.booking import BookingRecord
from shared.durations import in_words
from shared.keys import digest
from shared.phone import normalize
from shared.settings import Settings
from shared.timefmt import format_meeting_time, zone_or_default
from shared.vocabulary import Recipient, SmsKind
from worker import toll_fraud
from worker.payloads import JobSpec, ReminderPayload, Skipped, SmsPayload
from worker.policy import policy_for
from worker.sms import OutboundSms

UNTIMED = (SmsKind.CANCEL, SmsKind.FOLLOWUP, SmsKind.NO_SHOW)
"""Kinds whose params carry no ``time``."""
AFTER = "after"
"""The follow-up's slot and job-id part: it has no offset before the start."""


def message_key(kind: str, slot: str | int | None, invitee_uri: str) -> str:
    return f"sms|{kind}|{AFTER if slot is None else slot}|{invitee_uri}"


def render(kind: SmsKind, record: BookingRecord, settings: Settings, *, recipient: Recipient = Recipient.INVITEE,
           offset: int | None = None) -> OutboundSms | Skipped:
    """The message as it goes out, or why it does not: the template disabled (a
    reschedule notice without its template is a confirmation of the new time), no usable
    number, no start time. ``offset`` marks a reminder (seconds before the start) or, for a
    follow-up, None; notices are keyed by their recipient instead."""
    reminder = kind in (SmsKind.REMINDER, SmsKind.FOLLOWUP)
    slot = offset if reminder else recipient
    what = f"sms:{kind}:{AFTER if slot is None else slot}"
    sent_kind = kind
    enabled, template_id = template_for(kind, record, settings)
    if not enabled and kind == SmsKind.RESCHEDULE:
        sent_kind = SmsKind.CONFIRM
        enabled, template_id = template_for(sent_kind, record, settings)
    key = message_key(kind, slot, record.invitee_uri)
    if not enabled:
        return Skipped(what, "template_disabled", messages=(ledger_entry(key, sent_kind, record, None, None, offset),))
    to = recipient_phone(recipient, record, settings)
    if isinstance(to, Skipped):
        entry = ledger_entry(key, sent_kind, record, to.phone, template_id, offset)
        return Skipped(what, to.reason, to.phone, messages=(entry,))
    advance = timedelta(seconds=offset) if kind == SmsKind.REMINDER and offset is not None else None
    params = message_params(sent_kind, record, settings, advance)
    if isinstance(params, Skipped):
        return Skipped(what, params.reason, messages=(ledger_entry(key, sent_kind, record, to, template_id, offset),))
    return OutboundSms(key=key, kind=sent_kind, to=to, params=params, template_id=template_id)


def ledger_entry(key: str, kind: str, record: BookingRecord, to: str | None, template: str | None,
                 offset: int | None = None, due: datetime | None = None) -> dict:
    """What the ledger records of a message when it is planned or skipped (shared/ledger.py):
    ``to`` is masked there."""
    return {"key": key, "booking": record.invitee_uri, "kind": str(kind), "offset": offset, "to": to,
            "template": template, "due": int(due.timestamp()) if due else None}


def template_for(kind: str, record: BookingRecord, settings: Settings) -> tuple[bool, str | None]:
    return policy_for(settings, record.event_type_uri, record.event_type_name).template(kind, settings.sms_backend)


def recipient_phone(recipient: Recipient, record: BookingRecord, settings: Settings) -> str | Skipped:
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
    if kind not in UNTIMED:
        if record.start is None:
            return Skipped(kind, "no_start_time")
        zone = zone_or_default(record.timezone, settings.default_timezone)
        params["time"] = format_meeting_time(record.start, zone, settings.locale)
    if advance is not None:
        params["advance"] = in_words(advance, settings.locale)
    return params


def notice_job(kind: SmsKind, recipient: Recipient, record: BookingRecord, settings: Settings) -> JobSpec | Skipped:
    """A message decided when the delivery is applied, rendered now and sent at once."""
    sms = render(kind, record, settings, recipient=recipient)
    if isinstance(sms, Skipped):
        return sms
    payload = SmsPayload(key=sms.key, kind=sms.kind, to=sms.to, params=sms.params, template=sms.template_id,
                         invitee=record.invitee_uri)
    return JobSpec(payload, f"sms-{digest(sms.key)}", defaults.SMS_QUEUE,
                   planned=ledger_entry(sms.key, sms.kind, record, sms.to, sms.template_id))


def reminder_jobs(record: BookingRecord, settings: Settings, now: datetime) -> tuple[list[JobSpec], list[Skipped]]:
    """Reminders at each offset before the start and the follow-up after the end, for
    those still ahead; offsets already past at booking time are skipped."""
    specs: list[JobSpec] = []
    skipped: list[Skipped] = []
    policy = policy_for(settings, record.event_type_uri, record.event_type_name)
    if record.start is None:
        return specs, [Skipped("sms:reminder", "no_start_time")]
    wanted: list[tuple[SmsKind, datetime, int | None]] = [
        (SmsKind.REMINDER, record.start - offset, int(offset.total_seconds())) for offset in policy.reminder_offsets
    ]
    if policy.followup_delay is not None:
        wanted.append((SmsKind.FOLLOWUP, (record.end or record.start) + policy.followup_delay, None))
    entries = {(kind, offset): ledger_entry(message_key(kind, offset, record.invitee_uri), kind, record, record.phone,
                                            policy.template(kind, settings.sms_backend)[1], offset, at)
               for kind, at, offset in wanted}
    to = recipient_phone(Recipient.INVITEE, record, settings)
    if isinstance(to, Skipped):  # nothing to remind through: keep Redis free of dead jobs
        return specs, [Skipped("sms:reminder", to.reason, to.phone, messages=tuple(entries.values()))]
    for kind, at, offset in wanted:
        what = f"sms:{kind}" + (f":{offset}s" if offset is not None else "")
        entry = entries[(kind, offset)]
        if not policy.template(kind, settings.sms_backend)[0]:
            skipped.append(Skipped(what, "template_disabled", messages=(entry,)))
        elif at <= now:
            skipped.append(Skipped(what, "already_past", messages=(entry,)))
        else:
            specs.append(reminder_job(record, kind, at, offset, planned=entry))
    return specs, skipped


def reminder_job(record: BookingRecord, kind: SmsKind, at: datetime, offset: int | None,
                 planned: dict | None = None) -> JobSpec:
    """A pending reminder or follow-up, for rq-scheduler; rendered when it fires."""
    payload = ReminderPayload(booking=digest(record.invitee_uri), kind=kind, offset=offset,
                              start=int(record.start.timestamp()), due=int(at.timestamp()),
                              message=ledger.message_id(message_key(kind, offset, record.invitee_uri)))
    return JobSpec(payload, reminder_job_id(kind, offset, record.invitee_uri), defaults.REMINDERS_QUEUE, at=at,
                   planned=planned)


def reminder_job_id(kind: str, offset: int | None, invitee_uri: str) -> str:
    """Deterministic per (invitee, kind, offset): scheduling twice leaves one job."""
    return f"{kind}-{AFTER if offset is None else offset}-{digest(invitee_uri)[:32]}"


def reminder_message_key(job_id: str, invitee_uri: str) -> str | None:
    """The send-once key of a pending reminder from its job id (``reminder_job_id``:
    ``<kind>-<offset or after>-<digest>``), for the ledger when it is removed unfired."""
    kind, _, rest = job_id.partition("-")
    slot = rest.split("-", 1)[0]
    if not slot or kind not in (SmsKind.REMINDER, SmsKind.FOLLOWUP):
        return None
    return message_key(kind, None if slot == AFTER else int(slot) if slot.isdigit() else slot, invitee_uri)
