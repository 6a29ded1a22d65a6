"""Sending one SMS, once: a notice decided when its delivery was applied, or a reminder
rendered when it fires. Either may run long after it was planned (a retry after an outage,
a reminder days later), so the booking is checked first; then the toll fraud guard, the
send-once key with the opt-out list (one round trip, right before the provider) and the
daily cap; a transient failure is retried later, a permanent one fails the job with the
provider's reason.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from shared import defaults, ledger, optouts, stats, waiting
from shared.booking import BookingRecord, BookingStore
from shared.scrub import mask_phone, safe_message
from shared.vocabulary import BookingStatus, LedgerEvent, Recipient, SmsKind
from worker import context, idempotency, optout, rebook, retry, scheduling, toll_fraud
from worker.messages import ledger_entry, message_key, render
from worker.policy import policy_for
from worker.quiet_hours import Placement, notice_placement
from worker.payloads import Payload, ReminderPayload, Skipped, SmsPayload
from worker.provider_errors import PermanentError, TransientError
from worker.sms import OutboundSms

log = logging.getLogger("relay.worker")


RETRIES_EXHAUSTED = "retries_exhausted"
"""The ledger's failure code of a message whose transient failures outlasted every retry."""
HOST_KINDS = frozenset({SmsKind.HOST_NOTIFY, SmsKind.HOST_RECONFIRMED})
"""The notices sent to HOST_PHONE: the host's quiet hours hold them, and no daily cap."""
OPTED_OUT = "opted_out"
"""The skip reason of a message to a number on the opt-out list (shared/optouts.py)."""


def send_notice(job, payload: SmsPayload) -> dict[str, Any]:
    """A confirmation or notice, rendered when its delivery was applied. A confirmation for
    a booking cancelled since is not sent; a cancellation or no-show gets its re-booking
    link now (worker/rebook.py). While a delivery of its booking waits to be applied, the
    notice waits too (shared/waiting.py)."""
    conn = job.connection
    store = BookingStore(conn)
    record, deliveries_waiting = waiting.record_and_waiting(conn, payload.invitee) if payload.invitee else (None, 0)
    if (deliveries_waiting and (payload.waits or 0) < defaults.NOTICE_MAX_WAITS
            and waiting.still_waiting(conn, payload.invitee)):
        return wait_for_deliveries(conn, payload, job.id, record)
    reason = _stale_notice(payload.kind, record, datetime.now(timezone.utc))
    params = payload.params
    if reason is None and payload.kind in rebook.LINK_KINDS:
        try:
            link = rebook.link_for(conn, context.current().settings, payload.invitee,
                                   record.event_type_uri if record else None, last_try=rebook.last_try(payload))
        except TransientError as error:
            return retry.schedule_retry(conn, payload, job.id, defaults.SMS_QUEUE, error)
        params = {**params, "link": link or ""}
        # Calendly took a moment: the booking may have changed meanwhile (a no-show removed).
        record = store.load(payload.invitee)
        reason = _stale_notice(payload.kind, record, datetime.now(timezone.utc))
        if reason is None and not link and payload.kind == SmsKind.NO_SHOW:
            reason = "no_rebook_link"  # the no-show message is the link; without one it says nothing
    if reason is not None:
        skip(conn, ledger.message_id(payload.key), payload.kind, reason)
        log.info("sms %s not sent: %s", payload.kind, reason, extra={"sms_kind": payload.kind, "reason": reason})
        return {"status": "skipped", "reason": reason}
    sms = OutboundSms(key=payload.key, kind=payload.kind, to=payload.to, params=params, template_id=payload.template)
    return deliver(job, sms, payload, defaults.SMS_QUEUE)


def wait_for_deliveries(conn, payload: SmsPayload, job_id: str, record: BookingRecord | None = None,
                        now: datetime | None = None) -> dict[str, Any]:
    """The same notice scheduled again after 1 s, 2 s, 4 s ... (at most
    NOTICE_WAIT_MAX_DELAY): by then the delivery it waits for is most likely applied. A
    notice whose quiet hours (QUIET_HOURS_APPLY_TO, HOST_QUIET_HOURS) begin meanwhile waits
    for their end instead, as one planned then would, and its ledger entry says so."""
    waits = (payload.waits or 0) + 1
    delay = min(defaults.NOTICE_WAIT_MAX_DELAY, 2 ** min(waits - 1, 16))
    now = now or datetime.now(timezone.utc)
    placement = _placement(payload, record, now + timedelta(seconds=delay))
    at = placement.at
    # A notice held by quiet hours before, now waiting seconds, is no longer "moved".
    payload = replace(payload, due=int(at.timestamp()) if placement.moved else None, moved=placement.moved)
    with conn.pipeline() as pipe:
        scheduling.schedule(pipe, conn, at, payload.func, replace(payload, waits=waits).to_dict(),
                            f"{job_id.split('-wait', 1)[0]}-wait{waits}", queue=defaults.SMS_QUEUE)
        if placement.moved:
            ledger.record_planned(pipe, ledger_entry(payload.key, payload.kind, record, payload.to, payload.template,
                                                     moved=placement.moved), due=at.timestamp())
        pipe.execute()
    log.info("sms %s waits %ds for a delivery of its booking", payload.kind, (at - now).total_seconds(),
             extra={"sms_kind": payload.kind, "waits": waits, "moved": placement.moved})
    return {"status": "waiting", "waits": waits, "delay": delay, **({"due": payload.due} if placement.moved else {})}


def _placement(payload: SmsPayload, record: BookingRecord | None, at: datetime) -> Placement:
    """When the waiting notice may go at ``at``, its quiet hours considered."""
    if record is None:
        return Placement(at)
    settings = context.current().settings
    recipient = Recipient.HOST if payload.kind in HOST_KINDS else Recipient.INVITEE
    window = policy_for(settings, record.event_type_uri, record.event_type_name).quiet_hours
    return notice_placement(payload.kind, recipient, record, settings, window, at)


def _stale_notice(kind: str, record: BookingRecord | None, now: datetime) -> str | None:
    if record is None:
        return None
    if kind == SmsKind.CANCEL:
        return None if record.status == BookingStatus.CANCELED else f"booking_{record.status}"
    if kind == SmsKind.NO_SHOW:  # the no-show may have been removed since
        return None if record.status == BookingStatus.NO_SHOW else f"booking_{record.status}"
    if record.status != BookingStatus.ACTIVE:
        return f"booking_{record.status}"
    if record.start is not None and record.start <= now:
        return "too_late"
    return None


def send_reminder(job, payload: ReminderPayload) -> dict[str, Any]:
    """A reminder or follow-up, fired by rq-scheduler: the booking re-checked, then rendered."""
    conn = job.connection
    now = datetime.now(timezone.utc)
    lateness = now.timestamp() - payload.due
    record = BookingStore(conn).load_by_digest(payload.booking)
    reason = _why_not_remind(record, payload, now)
    sms = None
    if reason is None:
        # A reminder moved out of quiet hours says the lead it has when it goes.
        sent_at = datetime.fromtimestamp(payload.due, timezone.utc) if payload.moved else None
        sms = render(SmsKind(payload.kind), record, context.current().settings, offset=payload.offset,
                     sent_at=sent_at)
        if isinstance(sms, Skipped):
            reason = sms.reason
    if reason is not None:
        skip(conn, _reminder_id(payload, record), payload.kind, reason)
        log.info("%s not sent: %s", payload.kind, reason,
                 extra={"sms_kind": payload.kind, "reason": reason, "lateness": round(lateness, 3)})
        return {"status": "skipped", "reason": reason, "lateness": lateness}
    result = deliver(job, sms, payload, defaults.REMINDERS_QUEUE, lateness=max(0.0, lateness))
    return {**result, "lateness": lateness}


def _reminder_id(payload: ReminderPayload, record: BookingRecord | None) -> str | None:
    """The reminder's ledger id: carried by the job, or (a job scheduled before the ledger)
    made from its booking, when the record still exists."""
    if payload.message:
        return payload.message
    return ledger.message_id(message_key(payload.kind, payload.offset, record.invitee_uri)) if record else None


def skip(conn, message: str | None, kind: str, reason: str, **detail: Any) -> None:
    """A message not sent: counted, and in its ledger entry, in one round trip."""
    with conn.pipeline(transaction=False) as pipe:
        stats.count(pipe, "sms", kind, "skipped", reason)
        if message:
            ledger.record(pipe, message, LedgerEvent.SKIPPED, reason=reason, **detail)
        pipe.execute()


def _why_not_remind(record: BookingRecord | None, payload: ReminderPayload, now: datetime) -> str | None:
    if record is None:
        return "booking_unknown"
    if record.status != BookingStatus.ACTIVE:
        return f"booking_{record.status}"
    if record.start is None or int(record.start.timestamp()) != payload.start:
        return "start_moved"
    if payload.kind == SmsKind.REMINDER and now >= record.start:
        return "too_late"
    return None


def deliver(job, sms: OutboundSms, payload: Payload, queue: str, lateness: float | None = None) -> dict[str, Any]:
    """Send once; a transient failure schedules a retry, a permanent one fails the job. A
    reminder's ``lateness`` is observed with the record of its sending (one round trip)."""
    ctx = context.current()
    conn = job.connection
    # The host notice goes to HOST_PHONE, which the operator chose: exempt. Exempting the
    # number instead would let an invitee who books with the host's number escape the cap.
    to_host = sms.kind in HOST_KINDS
    message = ledger.message_id(sms.key)
    # Checked when the message was planned; again now, since a retry or a reminder may run
    # days later: SMS_COUNTRIES may have changed, the number may have opted out (looked up
    # with the send-once claim below, right before the provider is called).
    refused = None if to_host else toll_fraud.refusal(sms.to, ctx.settings)
    if refused and optouts.is_opted_out(conn, sms.to):
        refused = OPTED_OUT  # the person's own choice is the reason on record (a rare extra look)
    if refused:
        skip(conn, message, sms.kind, refused)
        toll_fraud.log_refusal(f"sms:{sms.kind}", refused, sms.to)
        return {"status": "skipped", "reason": refused}
    capped = ctx.settings.sms_daily_cap is not None and not to_host
    accepted: dict[str, str] = {}

    def guard(pipe, lease) -> None:
        # With the send-once claim, in its round trip, and only if it was taken: the opt-out
        # list (it binds the host's number too: whoever replied STOP asked for no messages),
        # then the daily cap. A message already sent takes no slot; one refused gives its
        # claim back (a later replay, a day on, can still send it).
        toll_fraud.guard_send(pipe, lease, sms.to, sms.key, ctx.settings.sms_daily_cap if capped else None)

    def send() -> str:
        accepted["id"] = ctx.sms.send(sms)
        return accepted["id"]

    def record_sent(pipe) -> None:  # in the transaction that marks the key sent
        _count_sent(pipe, sms.kind, lateness)
        ledger.record(pipe, message, LedgerEvent.SENT, provider_id=accepted["id"])

    try:
        provider_id = idempotency.run_once(conn, sms.key, send, also=record_sent, refuse_if=guard)
    except idempotency.ClaimRefused as refusal:
        reason = OPTED_OUT if refusal.reason == OPTED_OUT else toll_fraud.DAILY_CAP
        skip(conn, message, sms.kind, reason)
        if reason == OPTED_OUT:
            log.info("sms %s not sent: the number opted out", sms.kind, extra={"sms_kind": sms.kind, "reason": reason})
        else:
            toll_fraud.log_refusal(f"sms:{sms.kind}", reason, sms.to)
        return {"status": "skipped", "reason": reason}
    except TransientError as error:
        stats.count(conn, "sms", sms.kind, "retry", "")
        try:
            return retry.schedule_retry(conn, payload, job.id, queue, error.redacted(_sent_values(sms)))
        except retry.RetriesExhausted as exhausted:
            ledger.record(conn, message, LedgerEvent.FAILED, code=RETRIES_EXHAUSTED,
                          reason=safe_message(exhausted)[:defaults.LEDGER_REASON_LENGTH])
            raise
    except PermanentError as error:
        if capped:
            toll_fraud.give_back(conn, sms.to, sms.key)
        error = error.redacted(_sent_values(sms))
        code = str(error.code or error.status or "")
        with conn.pipeline(transaction=False) as pipe:
            stats.count(pipe, "sms", sms.kind, "failed", code)
            ledger.record(pipe, message, LedgerEvent.FAILED, code=code, reason=safe_message(error)[:defaults.LEDGER_REASON_LENGTH])
            pipe.execute()
        retry.record_failure(job, error)
        log.error("sms %s to %s failed for good: %s", sms.kind, mask_phone(sms.to), safe_message(error),
                  extra={"sms_kind": sms.kind, "code": error.code})
        if ctx.sms.refused_as_opted_out(error):  # the platform says the person unsubscribed
            optout.opt_out(conn, sms.to, "provider", ctx.settings)
        raise error from None
    if provider_id is None:
        log.info("sms %s already sent", sms.kind, extra={"sms_kind": sms.kind, "to": mask_phone(sms.to)})
        return {"status": "duplicate"}
    return {"status": "sent", "backend": ctx.sms.name, "provider_id": provider_id}


def _sent_values(sms: OutboundSms) -> list[str | None]:
    """What the provider was sent that is personal, to redact from its answer."""
    return [sms.to, *(str(value) for value in sms.params.values())]


def _count_sent(pipe, kind: str, lateness: float | None) -> None:
    stats.count(pipe, "sms", kind, "sent", "")
    stats.hourly(pipe, "messages")
    if lateness is not None:
        stats.observe(pipe, "reminder_lateness", lateness)
