"""RQ job entry points. Arguments are plain JSON-able data, never objects.

``process_event`` applies one Calendly delivery to the booking records and, in the same
Redis transaction, enqueues the side-effect jobs the lifecycle decided on and schedules
or removes reminders; ``send_sms``, ``send_reminder`` and ``sync_crm`` each perform one
side effect, once, retrying transient provider failures later.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from redis.exceptions import WatchError
from rq import Queue, get_current_job

from shared import keys, stats
from shared import defaults
from shared.booking import BookingStore
from shared.calendly.payloads import MAX_TEXT, PayloadError, parse_delivery
from shared.errors import RelayError
from shared.logs import mask_phone, safe_message, safe_text
from shared.settings import ConfigError
from shared.vocabulary import BookingStatus, SmsKind
from worker import context, idempotency, lifecycle, rebook, retry, scheduling, toll_fraud
from worker.crm import ContactUpdate, ordering
from worker.dispatch import (
    SEND_REMINDER_FUNC,
    SEND_SMS_FUNC,
    SYNC_CRM_FUNC,
    JobSpec,
    Skipped,
    message_params,
    plan_jobs,
    scheduled_message_key,
    recipient_phone,
    template_for,
)
from worker.provider_errors import PermanentError, TransientError
from worker.sms import OutboundSms

log = logging.getLogger("relay.worker")

MAX_TRANSACTION_ATTEMPTS = 20
"""WATCH conflicts happen when two halves of a reschedule are processed at once; each
retry re-reads the records, so a handful of attempts always suffices in practice."""


class UnusableDelivery(RelayError):
    """The delivery was accepted but the worker cannot use it. Its job fails, so it shows in
    /admin and ``relay failed list`` and can be replayed once the relay can read it; a
    delivery is never dropped quietly."""


def process_event(envelope: dict[str, Any], *_unused: Any) -> dict[str, Any]:
    """Apply one delivery. Jobs the receiver queued before this version also carry the time
    it received the delivery, which nothing reads: they still run (``_unused``)."""
    conn = get_current_job().connection
    try:
        delivery = parse_delivery(envelope)
    except PayloadError as error:
        stats.count(conn, "deliveries_unusable", error.field)
        log.error("delivery unusable: %s", error, extra={"event": _event_name(envelope), "field": error.field})
        raise UnusableDelivery(str(error)) from None
    if delivery.truncated:
        log.warning("delivery has free text over %d characters, cut: %s", MAX_TEXT, ", ".join(delivery.truncated),
                    extra={"event": delivery.event, "truncated": list(delivery.truncated)})
    return apply_delivery(conn, delivery, context.current().settings, datetime.now(timezone.utc))


def apply_delivery(conn, delivery, settings, now: datetime) -> dict[str, Any]:
    """Decide and commit atomically: the records, the jobs and the reminder schedule are
    written together or not at all, so a crash or a re-run can neither lose nor repeat a
    side effect."""
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
                plan = plan_jobs(decision.actions, records, delivery, settings, now)
                changed = dict(decision.records)
                for uri in plan.unscheduled:
                    changed[uri] = records[uri].evolve(reminder_jobs=())
                for uri, specs in plan.scheduled.items():
                    changed[uri] = records[uri].evolve(reminder_jobs=tuple(spec.job_id for spec in specs))
                pipe.multi()
                for record in changed.values():
                    store.save(record, now, client=pipe)
                for job_ids in plan.unscheduled.values():
                    scheduling.unschedule(pipe, job_ids)
                for specs in plan.scheduled.values():
                    for spec in specs:
                        scheduling.schedule(pipe, conn, spec.at, spec.func, spec.data, spec.job_id)
                _enqueue(conn, pipe, plan.jobs)
                for skip in plan.skipped:
                    _count_skip(pipe, skip.what, skip.reason)
                pipe.execute()
                break
            except WatchError:
                continue
        else:
            raise RuntimeError("booking records kept changing; giving up this run (it will be retried)")
    summary = {
        "status": "applied",
        "event": delivery.event,
        "records": {keys.digest(u): r.status for u, r in changed.items()},
        "jobs": [job.job_id for job in plan.jobs],
        "scheduled": [spec.job_id for specs in plan.scheduled.values() for spec in specs],
        "unscheduled": [job_id for ids in plan.unscheduled.values() for job_id in ids],
        "skipped": [f"{s.what}:{s.reason}" for s in plan.skipped],
        "notes": list(decision.notes),
    }
    log.info("delivery applied: %s", delivery.event, extra={k: v for k, v in summary.items() if k != "status"})
    refusals = {(skip.phone, skip.reason): skip.what for skip in plan.skipped if skip.reason in toll_fraud.REASONS}
    for (phone, reason), what in refusals.items():  # one line per number, not per message
        _log_refusal(what, reason, phone)
    return summary


def _log_refusal(what: str, reason: str, phone: str | None) -> None:
    """A number the relay will not text (toll fraud guard): worth a warning, masked."""
    log.warning("sms to %s refused: %s", mask_phone(phone), reason,
                extra={"what": what, "reason": reason, "to": mask_phone(phone)})


_queues: dict[tuple[int, str], Queue] = {}


def _queue(conn, name: str) -> Queue:
    """One Queue per connection and name: a Queue asks Redis for its version once."""
    key = (id(conn.connection_pool), name)
    if key not in _queues:
        _queues[key] = Queue(name, connection=conn)
    return _queues[key]


def _count_skip(client, what: str, reason: str) -> None:
    """``what`` is ``sms:<kind>[:...]`` or ``crm:<status>`` (see dispatch.Skipped)."""
    channel, _, rest = what.partition(":")
    kind = rest.split(":", 1)[0] or "?"
    if channel == "crm":
        stats.count(client, "crm", kind, "skipped", reason)
    else:
        stats.count(client, "sms", kind, "skipped", reason)


def _enqueue(conn, pipe, jobs: list[JobSpec]) -> None:
    by_queue: dict[str, list[JobSpec]] = defaultdict(list)
    for job in jobs:
        by_queue[job.queue].append(job)
    for name, specs in by_queue.items():
        queue = _queue(conn, name)
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    spec.func,
                    args=(spec.data,),
                    job_id=spec.job_id,
                    description=f"{spec.func.rsplit('.', 1)[-1]} {spec.data.get('kind')} {spec.job_id}",
                    timeout=defaults.JOB_TIMEOUT,
                    result_ttl=defaults.SIDE_EFFECT_RESULT_TTL,
                    failure_ttl=defaults.FAILED_JOB_TTL,
                )
                for spec in specs
            ],
            pipeline=pipe,
        )


def send_sms(message: dict[str, Any]) -> dict[str, Any]:
    """An SMS decided when the delivery was applied (confirmation, notices). It may run
    much later (a retry after a provider outage), so it checks the booking first: a
    confirmation for a booking cancelled since is not sent."""
    job = get_current_job()
    conn = job.connection
    record = BookingStore(conn).load(message["invitee"]) if message.get("invitee") else None
    reason = _stale_notice(message["kind"], record, datetime.now(timezone.utc))
    params = message["params"]
    if reason is None and message["kind"] in rebook.LINK_KINDS:
        try:
            link = rebook.link_for(conn, context.current().settings, message["invitee"],
                                   record.event_type_uri if record else None, last_try=_link_last_try(message))
        except TransientError as error:
            return retry.schedule_retry(conn, SEND_SMS_FUNC, message, job.id, defaults.SMS_QUEUE, error)
        params = {**params, "link": link or ""}
        # Calendly took a moment: the booking may have changed meanwhile (a no-show removed).
        record = BookingStore(conn).load(message["invitee"])
        reason = _stale_notice(message["kind"], record, datetime.now(timezone.utc))
        if reason is None and not link and message["kind"] == SmsKind.NO_SHOW:
            reason = "no_rebook_link"  # the no-show message is the link; without one it says nothing
    if reason is not None:
        stats.count(conn, "sms", message["kind"], "skipped", reason)
        log.info("sms %s not sent: %s", message["kind"], reason, extra={"sms_kind": message["kind"], "reason": reason})
        return {"status": "skipped", "reason": reason}
    sms = OutboundSms(key=message["key"], kind=message["kind"], to=message["to"], params=params,
                      template_id=message.get("template"))
    return _deliver(sms, message, SEND_SMS_FUNC, defaults.SMS_QUEUE)


def _link_last_try(data: dict[str, Any]) -> bool:
    return int(data.get("attempt", 0)) + 1 >= rebook.LINK_ATTEMPTS


def _stale_notice(kind: str, record, now: datetime) -> str | None:
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


def send_reminder(data: dict[str, Any]) -> dict[str, Any]:
    """A reminder or follow-up, fired by rq-scheduler: re-check the booking first."""
    ctx = context.current()
    conn = get_current_job().connection
    now = datetime.now(timezone.utc)
    lateness = now.timestamp() - data["due"]
    record = BookingStore(conn).load_by_digest(data["booking"])
    reason = _why_not_send(record, data, now)
    if reason is None:
        enabled, template_id = template_for(data["kind"], record, ctx.settings)
        to = recipient_phone("invitee", record, ctx.settings)
        offset = data.get("offset")
        advance = None if offset is None else timedelta(seconds=int(offset))
        params = message_params(data["kind"], record, ctx.settings, advance=advance)
        reason = next((r.reason for r in (to, params) if isinstance(r, Skipped)), None)
        if reason is None and not enabled:
            reason = "template_disabled"
    if reason is not None:
        stats.count(conn, "sms", data["kind"], "skipped", reason)
        log.info("%s not sent: %s", data["kind"], reason,
                 extra={"sms_kind": data["kind"], "reason": reason, "lateness": round(lateness, 3)})
        return {"status": "skipped", "reason": reason, "lateness": lateness}
    key = scheduled_message_key(data["kind"], data.get("offset"), record.invitee_uri)
    sms = OutboundSms(key=key, kind=data["kind"], to=to, params=params, template_id=template_id)
    result = _deliver(sms, data, SEND_REMINDER_FUNC, defaults.REMINDERS_QUEUE)
    if result["status"] == "sent":
        stats.observe(conn, "reminder_lateness", max(0.0, lateness))
    return {**result, "lateness": lateness}


def _why_not_send(record, data: dict[str, Any], now: datetime) -> str | None:
    if record is None:
        return "booking_unknown"
    if record.status != BookingStatus.ACTIVE:
        return f"booking_{record.status}"
    if record.start is None or int(record.start.timestamp()) != data["start"]:
        return "start_moved"
    if data["kind"] == SmsKind.REMINDER and now >= record.start:
        return "too_late"
    return None


class DailyCapReached(Exception):
    """The number had SMS_DAILY_CAP_PER_NUMBER messages in the last 24 hours."""


def _deliver(sms: OutboundSms, data: dict[str, Any], func: str, queue: str) -> dict[str, Any]:
    """Send once; a transient failure schedules a retry, a permanent one fails the job."""
    ctx = context.current()
    job = get_current_job()
    conn = job.connection
    # The host notice goes to HOST_PHONE, which the operator chose: exempt. Exempting the
    # number instead would let an invitee who books with the host's number escape the cap.
    to_host = sms.kind == SmsKind.HOST_NOTIFY
    # Checked when the message was planned; again now, since a retry or a reminder may run
    # days later under a changed SMS_COUNTRIES.
    refused = None if to_host else toll_fraud.refusal(sms.to, ctx.settings)
    if refused:
        stats.count(conn, "sms", sms.kind, "skipped", refused)
        _log_refusal(f"sms:{sms.kind}", refused, sms.to)
        return {"status": "skipped", "reason": refused}
    capped = ctx.settings.sms_daily_cap is not None and not to_host

    def send() -> str:
        # Inside the send-once claim: a message already sent takes no slot, and one refused
        # here releases its claim (a later replay, a day on, can still send it).
        if capped and not toll_fraud.take_slot(conn, sms.to, sms.key, ctx.settings.sms_daily_cap):
            raise DailyCapReached()
        return ctx.sms.send(sms)

    try:
        provider_id = idempotency.run_once(conn, sms.key, send, also=lambda pipe: _count_sent(pipe, sms.kind))
    except DailyCapReached:
        stats.count(conn, "sms", sms.kind, "skipped", toll_fraud.DAILY_CAP)
        _log_refusal(f"sms:{sms.kind}", toll_fraud.DAILY_CAP, sms.to)
        return {"status": "skipped", "reason": toll_fraud.DAILY_CAP}
    except TransientError as error:
        stats.count(conn, "sms", sms.kind, "retry", "")
        return retry.schedule_retry(conn, func, data, job.id, queue, error.redacted(_sent_values(sms)))
    except PermanentError as error:
        if capped:
            toll_fraud.give_back(conn, sms.to, sms.key)
        error = error.redacted(_sent_values(sms))
        stats.count(conn, "sms", sms.kind, "failed", str(error.code or error.status or ""))
        _record_failure(job, error)
        log.error("sms %s to %s failed for good: %s", sms.kind, mask_phone(sms.to), safe_message(error),
                  extra={"sms_kind": sms.kind, "code": error.code})
        raise error from None
    if provider_id is None:
        log.info("sms %s already sent", sms.kind, extra={"sms_kind": sms.kind, "to": mask_phone(sms.to)})
        return {"status": "duplicate"}
    return {"status": "sent", "backend": ctx.sms.name, "provider_id": provider_id}


def _sent_values(sms: OutboundSms) -> list[str | None]:
    """What the provider was sent that is personal, to redact from its answer."""
    return [sms.to, *(str(value) for value in sms.params.values())]


def _contact_values(contact: dict[str, Any]) -> list[str | None]:
    answers = [str(answer) for _, answer in contact.get("answers") or ()]
    return [contact.get(name) for name in ("email", "name", "phone", "join_url", "rebook_url")] + answers


def _count_sent(pipe, kind: str) -> None:
    stats.count(pipe, "sms", kind, "sent", "")
    stats.hourly(pipe, "messages")


def sync_crm(update: dict[str, Any]) -> dict[str, Any]:
    ctx = context.current()
    if ctx.crm is None:
        return {"status": "skipped", "reason": "crm_off"}
    crm = ctx.crm
    job = get_current_job()
    conn = job.connection
    contact = update["contact"]
    if contact.get("status") in rebook.LINK_STATUSES and update.get("invitee"):
        try:
            link = rebook.link_for(conn, ctx.settings, update["invitee"], contact.get("event_type_uri"),
                                   last_try=_link_last_try(update))
        except TransientError as error:
            return retry.schedule_retry(conn, SYNC_CRM_FUNC, update, job.id, defaults.CRM_QUEUE, error)
        if link:
            contact = {**contact, "rebook_url": link}
    change = ContactUpdate(key=update["key"], kind=update["kind"], contact=contact, event=update["event"])

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
        return retry.schedule_retry(conn, SYNC_CRM_FUNC, update, job.id, defaults.CRM_QUEUE,
                                    error.redacted(_contact_values(change.contact)))
    except PermanentError as error:
        error = error.redacted(_contact_values(change.contact))
        stats.count(conn, "crm", change.kind, "failed", str(error.code or error.status or ""))
        _record_failure(job, error)
        log.error("crm %s failed for good: %s", change.kind, safe_message(error), extra={"code": error.code})
        raise error from None
    if upserted is None and recorded is None:
        return {"status": "duplicate"}
    stats.count(conn, "crm", change.kind, "synced", "")
    return {"status": "synced", "backend": crm.name, "event": change.event if recorded else None}


def _record_failure(job, error: PermanentError) -> None:
    """The reason, visible on the failed job (``meta["failure"]``) as well as in the log."""
    # Kept with the job for weeks and shown by /admin: the provider's text, values masked.
    job.meta["failure"] = {"provider": error.provider, "code": error.code,
                           "message": safe_text(error.message)}
    job.save_meta()


def _event_name(envelope: Any) -> str | None:
    event = envelope.get("event") if isinstance(envelope, dict) else None
    return event if isinstance(event, str) else None


# --- periodic housekeeping (registered by ``relay scheduler``) -------------------------

def check_webhooks() -> dict[str, Any]:
    """Is Calendly still delivering to us? Logged loudly and kept for /metrics when not.
    Also checks what each Calendly feature may do, for /admin."""
    from shared.calendly import features, subscriptions
    from shared.calendly.client import CalendlyError, Forbidden
    from shared.calendly.oauth import api_client

    ctx = context.current()
    conn = get_current_job().connection
    if not ctx.settings.webhook_url:
        return {"status": "skipped", "reason": "RELAY_WEBHOOK_URL is not set"}
    try:
        client = api_client(conn, ctx.settings)
        _check_features(conn, client, ctx.settings)
        state = subscriptions.check(client, ctx.settings.webhook_url, subscriptions.required_events(ctx.settings))
    except Forbidden as error:  # a missing scope or the plan: asking again will not help
        _webhook_state(conn, "unknown")
        return {"status": "skipped", "reason": features.note_forbidden(conn, error)}
    except (CalendlyError, ConfigError) as error:
        log.error("webhook subscription check failed: %s", safe_message(error))
        _webhook_state(conn, "unknown")
        return {"status": "error", "reason": str(error)}
    _webhook_state(conn, state.state)
    stats.count(conn, "webhook_checks", state.state)
    if not state.healthy:
        log.error("Calendly webhook subscription %s: %s (run: relay webhooks check --repair)", state.state,
                  state.message, extra={"subscription_state": state.state})
    elif state.state == subscriptions.RETRYING:
        log.warning("Calendly webhook subscription: %s", state.message, extra={"subscription_state": state.state})
    for problem in state.problems:
        log.error("Calendly webhook subscription: %s", problem, extra={"subscription_state": state.state})
    return {"status": state.state, "message": state.message, "problems": list(state.problems)}


def _check_features(conn, client, settings) -> None:
    """The hourly view of each Calendly feature (relay config check --remote's lines)."""
    from shared.calendly import features

    results = features.probe(client, settings) + [features.oauth_result(conn, settings)]
    features.record(conn, results)
    for result in results:
        if not result.ok:
            log.warning("%s", safe_text(result.line()), extra={"feature": result.feature.name})


def _webhook_state(conn, state: str) -> None:
    conn.hset(keys.WEBHOOK_STATE, mapping={"state": state, "checked_at": datetime.now(timezone.utc).isoformat()})


def reconcile_bookings() -> dict[str, Any]:
    from shared.calendly import features
    from shared.calendly.client import CalendlyError, Forbidden
    from shared.calendly.oauth import api_client
    from worker.backfill import reconcile

    ctx = context.current()
    conn = get_current_job().connection
    try:
        report = reconcile(conn, api_client(conn, ctx.settings), ctx.settings)
    except Forbidden as error:  # a missing scope or the plan: the next run asks again, quietly
        return {"status": "skipped", "reason": features.note_forbidden(conn, error)}
    except (CalendlyError, ConfigError) as error:
        log.error("reconciliation failed: %s", safe_message(error))
        return {"status": "error", "reason": str(error)}
    log.info("reconciliation: %s", report.line(), extra={"applied": report.applied})
    report.raise_for_unusable()  # after the others were applied: the job fails, visibly
    return {"status": "done", "applied": report.applied, "skipped": report.skipped}
