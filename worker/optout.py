"""What follows when a number opts out or back in: used by the callbacks worker (a STOP or
START reply, an "unsubscribed" status) and by ``relay optouts add|remove``.

Opting out puts the number on the list (shared/optouts.py, checked again before every
send), removes the pending reminders and follow-ups of its bookings (each recorded in the
ledger as skipped, ``opted_out``) and queues the CRM change ``smsBlacklisted: true``.
Opting in takes it off the list and queues ``smsBlacklisted: false``; reminders removed
meanwhile are not brought back (the booking's next change plans them again).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from redis.exceptions import WatchError
from rq import Queue

from shared import defaults, keys, ledger, optouts, stats
from shared.booking import BookingRecord, BookingStore
from shared.scrub import mask_phone
from shared.settings import Settings
from shared.vocabulary import LedgerEvent
from worker import scheduling
from worker.crm.sync import SMS_BLACKLIST
from worker.messages import reminder_message_key
from worker.payloads import CrmPayload

log = logging.getLogger("relay.optout")

OPTED_OUT = "opted_out"
MAX_ATTEMPTS = 10


def opt_out(conn, phone: str, source: str, settings: Settings) -> bool:
    """True when the number was not on the list before. ValueError for a number that is not
    one (the caller says so: the CLI with exit 2, the callbacks worker as an unusable row)."""
    number = optouts.canonical(phone)
    bookings = BookingStore(conn).with_phone(number)
    # The CRM change is queued before the number goes on the list: once it is listed, a
    # replay of this STOP (after Redis failed midway, or the cancellations below gave up)
    # finds it listed and queues nothing, so queued after, it could be lost for good.
    if not optouts.is_opted_out(conn, number):
        _queue_crm(conn, number, bookings, True, settings)
    added = optouts.add(conn, number, source)
    if added:
        stats.count(conn, "optouts", "added", source)
    cancelled = sum(_cancel_pending(conn, record) for record in bookings)
    log.info("number %s opted out (%s): %s pending reminders cancelled", mask_phone(number), source, cancelled,
             extra={"to": mask_phone(number), "source": source, "cancelled": cancelled, "new": added})
    return added


def opt_in(conn, phone: str, source: str, settings: Settings) -> bool:
    """True when the number was on the list."""
    number = optouts.canonical(phone)
    removed = optouts.remove(conn, number, source)
    if removed:
        stats.count(conn, "optouts", "removed", source)
        _queue_crm(conn, number, BookingStore(conn).with_phone(number), False, settings)
    log.info("number %s opted back in (%s)", mask_phone(number), source,
             extra={"to": mask_phone(number), "source": source, "was_listed": removed})
    return removed


def _cancel_pending(conn, record: BookingRecord) -> int:
    """Remove the booking's pending reminder jobs and record each as skipped, in one
    transaction guarded against a delivery changing the record meanwhile."""
    with conn.pipeline() as pipe:
        for _ in range(MAX_ATTEMPTS):
            try:
                pipe.watch(keys.booking(record.invitee_uri))
                current = BookingStore(pipe).load(record.invitee_uri)
                if current is None or not current.reminder_jobs:
                    return 0
                now = datetime.now(timezone.utc)
                pipe.multi()
                scheduling.unschedule(pipe, current.reminder_jobs)
                BookingStore(pipe).save(current.evolve(reminder_jobs=()), now)
                for job_id in current.reminder_jobs:
                    key = reminder_message_key(job_id, current.invitee_uri)
                    if key:
                        ledger.record(pipe, ledger.message_id(key), LedgerEvent.SKIPPED, at=now.timestamp(),
                                      reason=OPTED_OUT)
                        stats.count(pipe, "sms", job_id.split("-", 1)[0], "skipped", OPTED_OUT)
                pipe.execute()
                return len(current.reminder_jobs)
            except WatchError:
                continue
    raise RuntimeError("booking record kept changing; the opt-out's cancellations are to be retried")


def _queue_crm(conn, number: str, bookings: list[BookingRecord], blacklisted: bool, settings: Settings) -> None:
    """One job per contact: by each booking's e-mail, or by the number when none is known."""
    if settings.crm_backend == "off":
        return
    emails = sorted({record.email for record in bookings if record.email}) or [None]
    changed_at = f"{time.time():.3f}"
    queue = Queue(defaults.CRM_QUEUE, connection=conn)
    for email in emails:
        key = f"crm|{SMS_BLACKLIST}|{blacklisted}|{keys.digest(email or number)}|{changed_at}"
        payload = CrmPayload(key=key, kind=SMS_BLACKLIST, event=None,
                             contact={"email": email, "phone": number, "blacklisted": blacklisted})
        queue.enqueue(payload.func, payload.to_dict(), job_id=f"crm-{keys.digest(key)}",
                      description=f"sync_crm {SMS_BLACKLIST} {'on' if blacklisted else 'off'}",
                      job_timeout=defaults.JOB_TIMEOUT, result_ttl=defaults.SIDE_EFFECT_RESULT_TTL,
                      failure_ttl=defaults.FAILED_JOB_TTL)
