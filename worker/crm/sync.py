"""Writing one contact change to the CRM, once: the upsert and the automation event each
under a send-once key of their own, the newest change winning whatever order the jobs run
in (worker/crm/ordering.py), and a cancellation's or no-show's re-booking link added
(worker/rebook.py). A transient failure is retried later, a permanent one fails the job."""

from __future__ import annotations

import logging
from typing import Any

from shared import defaults, stats
from shared.scrub import safe_message
from worker import context, idempotency, rebook, retry
from worker.crm import ContactUpdate, ordering
from worker.payloads import CrmPayload
from worker.provider_errors import PermanentError, TransientError

log = logging.getLogger("relay.worker")


SMS_BLACKLIST = "sms_blacklist"
"""The CRM job of an opt-out list change (worker/optout.py)."""


def sync_contact(job, payload: CrmPayload) -> dict[str, Any]:
    ctx = context.current()
    if ctx.crm is None:
        return {"status": "skipped", "reason": "crm_off"}
    crm = ctx.crm
    conn = job.connection
    if payload.kind == SMS_BLACKLIST:
        return _sync_sms_blacklist(job, payload, crm)
    contact = payload.contact
    if contact.get("status") in rebook.LINK_STATUSES and payload.invitee:
        try:
            link = rebook.link_for(conn, ctx.settings, payload.invitee, contact.get("event_type_uri"),
                                   last_try=rebook.last_try(payload))
        except TransientError as error:
            return retry.schedule_retry(conn, payload, job.id, defaults.CRM_QUEUE, error)
        if link:
            contact = {**contact, "rebook_url": link}
    change = ContactUpdate(key=payload.key, kind=payload.kind, contact=contact, event=payload.event)

    def step(action) -> str:
        action(change)
        return crm.name

    def upsert() -> str:
        changed_at = change.contact.get("changed_at")
        with ordering.exclusive(conn, change.contact["email"]):
            if changed_at and ordering.is_stale(conn, change.contact["email"], changed_at):
                log.info("crm %s skipped: a newer change was already applied", change.contact.get("status"))
                return "stale"
            step(crm.upsert)
            if changed_at:
                ordering.advance(conn, change.contact["email"], changed_at)
        return crm.name

    try:
        upserted = idempotency.run_once(conn, change.key + "|contact", upsert)
        recorded = None
        if change.event:
            recorded = idempotency.run_once(conn, change.key + "|event", lambda: step(crm.record_event))
    except TransientError as error:
        stats.count(conn, "crm", change.kind, "retry", "")
        return retry.schedule_retry(conn, payload, job.id, defaults.CRM_QUEUE,
                                    error.redacted(_contact_values(change.contact)))
    except PermanentError as error:
        error = error.redacted(_contact_values(change.contact))
        stats.count(conn, "crm", change.kind, "failed", str(error.code or error.status or ""))
        retry.record_failure(job, error)
        log.error("crm %s failed for good: %s", change.kind, safe_message(error), extra={"code": error.code})
        raise error from None
    if upserted is None and recorded is None:
        return {"status": "duplicate"}
    stats.count(conn, "crm", change.kind, "synced", "")
    return {"status": "synced", "backend": crm.name, "event": change.event if recorded else None}


def _sync_sms_blacklist(job, payload: CrmPayload, crm) -> dict[str, Any]:
    contact = payload.contact
    conn = job.connection
    try:
        done = idempotency.run_once(conn, payload.key, lambda: step_blacklist(crm, contact))
    except TransientError as error:
        stats.count(conn, "crm", payload.kind, "retry", "")
        return retry.schedule_retry(conn, payload, job.id, defaults.CRM_QUEUE, error.redacted(_contact_values(contact)))
    except PermanentError as error:
        error = error.redacted(_contact_values(contact))
        stats.count(conn, "crm", payload.kind, "failed", str(error.code or error.status or ""))
        retry.record_failure(job, error)
        log.error("crm %s failed for good: %s", payload.kind, safe_message(error), extra={"code": error.code})
        raise error from None
    if done is None:
        return {"status": "duplicate"}
    stats.count(conn, "crm", payload.kind, "synced", "")
    return {"status": "synced", "backend": crm.name, "sms_blacklisted": contact["blacklisted"]}


def step_blacklist(crm, contact: dict[str, Any]) -> str:
    crm.mark_sms_blacklisted(contact.get("email"), contact["phone"], bool(contact["blacklisted"]))
    return crm.name


def _contact_values(contact: dict[str, Any]) -> list[str | None]:
    """What the CRM was sent that is personal, to redact from its answer."""
    answers = [str(answer) for _, answer in contact.get("answers") or ()]
    return [contact.get(name) for name in ("email", "name", "phone", "join_url", "rebook_url")] + answers
