"""RQ job entry points, and nothing else: each reads its job's plain-data argument into its
typed payload (worker/payloads.py) and hands it to the module that does the work.

RQ stores these dotted names with every queued and scheduled job (``worker.jobs.send_reminder``
for a reminder due in a week), so they stay here under these names across versions.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from worker import apply, callbacks, context, maintenance, sending
from worker.crm.sync import sync_contact
from worker.payloads import CrmPayload, ReminderPayload, SmsPayload


def process_event(envelope: dict[str, Any], *_unused: Any) -> dict[str, Any]:
    """Apply one Calendly delivery (worker/apply.py). Jobs the receiver queued before this
    version also carry the time it received the delivery, which nothing reads: they still
    run (``_unused``)."""
    return apply.apply_envelope(get_current_job().connection, envelope, context.current().settings)


def send_sms(message: dict[str, Any]) -> dict[str, Any]:
    """A confirmation or notice, decided when its delivery was applied (worker/sending.py)."""
    return sending.send_notice(get_current_job(), SmsPayload.from_dict(message))


def send_reminder(data: dict[str, Any]) -> dict[str, Any]:
    """A reminder or follow-up, released by rq-scheduler when due (worker/sending.py)."""
    return sending.send_reminder(get_current_job(), ReminderPayload.from_dict(data))


def sync_crm(update: dict[str, Any]) -> dict[str, Any]:
    """A contact's change or a lead, written to the CRM (worker/crm/sync.py)."""
    return sync_contact(get_current_job(), CrmPayload.from_dict(update))


def check_webhooks() -> dict[str, Any]:
    """Hourly: the webhook subscription and the Calendly features (worker/maintenance.py)."""
    return maintenance.check_webhooks(get_current_job().connection, context.current().settings)


def reconcile_bookings() -> dict[str, Any]:
    """Every RECONCILE_INTERVAL: the coming hours compared with Calendly (worker/maintenance.py)."""
    return maintenance.reconcile_bookings(get_current_job().connection, context.current().settings)


def process_callback(body: dict[str, Any]) -> dict[str, Any]:
    """An EngageLab callback body, row by row (worker/callbacks/)."""
    return callbacks.process_callback(get_current_job().connection, body, context.current().settings)
