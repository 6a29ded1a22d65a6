"""A confirm word from a number with an upcoming active booking: the nearest one is
reconfirmed. In one transaction: ``reconfirmed_at`` on the booking record, the Brevo
contact's ``RECONFIRMED_AT`` and event ``calendly_reconfirmed`` (a CRM job), and the host's
notice (``host_reconfirmed``, TEMPLATE_ID_HOST_RECONFIRMED with ``name`` and ``time``, to
HOST_PHONE), whose ledger entry says it was planned, or skipped and why: the
reconfirmation's trace in the booking's timeline. A second confirm changes nothing; the
notice has its send-once key like every message."""

from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import WatchError

from shared import defaults, keys, ledger
from shared.booking import BookingRecord, BookingStore
from shared.keys import digest
from shared.replies import keep_unmatched
from shared.scrub import mask_phone
from shared.settings import Settings
from shared.vocabulary import BookingStatus, LedgerEvent, Recipient, SmsKind
from worker import apply
from worker.messages import message_key, notice_job
from worker.payloads import CrmPayload, JobSpec, Skipped

log = logging.getLogger("relay.worker")

CRM_EVENT = "calendly_reconfirmed"


def reconfirm(conn, phone: str, text: str, settings: Settings, now: datetime) -> str:
    for candidate in BookingStore(conn).upcoming_for_phone(phone, now):
        outcome = _reconfirm_booking(conn, candidate.invitee_uri, phone, settings, now)
        if outcome is not None:
            return outcome
    keep_unmatched(conn, phone, text, "no_upcoming_booking", now.timestamp())
    log.info("confirm reply from %s, who has no upcoming booking; kept for /admin", mask_phone(phone))
    return "unmatched"


def _still_upcoming(record: BookingRecord | None, phone: str, now: datetime) -> bool:
    """What made the booking a candidate, read again under WATCH: a cancellation (or a
    reschedule, or a changed number) applied since it was picked makes it none."""
    return (record is not None and record.status == BookingStatus.ACTIVE and record.phone == phone
            and record.start is not None and record.start > now)


def _reconfirm_booking(conn, uri: str, phone: str, settings: Settings, now: datetime) -> str | None:
    """``reconfirmed``, ``already_reconfirmed``, or None when the booking is no longer an
    upcoming active booking of this number (the caller tries the next one)."""
    with conn.pipeline() as pipe:
        while True:
            try:
                pipe.watch(keys.booking(uri))
                record = BookingStore(pipe).load(uri)
                if not _still_upcoming(record, phone, now):
                    pipe.unwatch()
                    return None
                if record.reconfirmed_at is not None:
                    pipe.unwatch()
                    log.info("booking already reconfirmed; reply from %s changes nothing", mask_phone(phone))
                    return "already_reconfirmed"
                record = record.evolve(reconfirmed_at=now)
                notice = notice_job(SmsKind.HOST_RECONFIRMED, Recipient.HOST, record, settings, now)
                jobs = [job for job in (_crm_job(record, settings), notice) if isinstance(job, JobSpec)]
                pipe.multi()
                BookingStore(pipe).save(record, now, client=pipe)
                apply.enqueue_jobs(conn, pipe, jobs)
                _record_notice(pipe, record, notice, now)
                pipe.execute()
                break
            except WatchError:
                continue  # the booking changed meanwhile (a delivery applied): read it again
    log.info("booking reconfirmed by sms reply from %s", mask_phone(phone),
             extra={"from": mask_phone(phone), "booking": digest(uri)[:12]})
    return "reconfirmed"


def _crm_job(record: BookingRecord, settings: Settings) -> JobSpec | None:
    if settings.crm_backend == "off" or not record.email:
        return None
    contact = {
        "email": record.email,
        "reconfirmed_at": record.reconfirmed_at.isoformat(),
        "scheduled_at": record.start.isoformat() if record.start else None,
        "event_type_name": record.event_type_name,
        "timezone": record.timezone,
        "answers": [],
        "lists": [],
        "changed_at": None,  # not a status change: it must not reorder the booking's own changes
    }
    key = f"crm|reconfirmed|{record.invitee_uri}"
    payload = CrmPayload(key=key, kind="contact", contact=contact, event=CRM_EVENT, invitee=record.invitee_uri)
    return JobSpec(payload, f"crm-{digest(key)}", defaults.CRM_QUEUE)


def _record_notice(pipe, record: BookingRecord, notice: JobSpec | Skipped, now: datetime) -> None:
    """The host notice's ledger entry: planned, or skipped with the reason (no
    TEMPLATE_ID_HOST_RECONFIRMED, no HOST_PHONE)."""
    key = message_key(SmsKind.HOST_RECONFIRMED, Recipient.HOST, record.invitee_uri)
    base = {"booking": record.invitee_uri, "kind": SmsKind.HOST_RECONFIRMED.value, "offset": None}
    if isinstance(notice, JobSpec):
        sms = notice.payload
        ledger.record(pipe, ledger.message_id(key), LedgerEvent.PLANNED, at=now.timestamp(), **base,
                      to=mask_phone(sms.to), template=sms.template, due=now.timestamp())
    else:
        ledger.record(pipe, ledger.message_id(key), LedgerEvent.SKIPPED, at=now.timestamp(), **base,
                      reason=notice.reason)
