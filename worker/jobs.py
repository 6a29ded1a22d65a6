"""RQ job entry points. Arguments are plain JSON-able data, never objects.

``process_event`` applies one Calendly delivery to the booking records and, in the same
Redis transaction, enqueues the side-effect jobs the lifecycle decided on; ``send_sms``
and ``sync_crm`` each perform one side effect, once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import WatchError
from rq import Queue, get_current_job

from shared import keys
from shared import settings as defaults
from shared.booking import BookingStore
from shared.calendly.payloads import PayloadError, parse_delivery
from shared.logs import mask_phone
from worker import context, idempotency, lifecycle
from worker.crm import ContactUpdate
from worker.dispatch import JobSpec, plan_jobs
from worker.sms import OutboundSms

log = logging.getLogger("relay.worker")

MAX_TRANSACTION_ATTEMPTS = 20
"""WATCH conflicts happen when two halves of a reschedule are processed at once; each
retry re-reads the records, so a handful of attempts always suffices in practice."""


def process_event(envelope: dict[str, Any], received_at: str | None = None) -> dict[str, Any]:
    try:
        delivery = parse_delivery(envelope)
    except PayloadError as error:
        log.warning("delivery skipped: %s", error, extra={"event": _event_name(envelope), "reason": str(error)})
        return {"status": "skipped", "reason": str(error)}
    conn = get_current_job().connection
    return apply_delivery(conn, delivery, context.current().settings, datetime.now(timezone.utc))


def apply_delivery(conn, delivery, settings, now: datetime) -> dict[str, Any]:
    """Decide and commit atomically: the records and the jobs are written together or not
    at all, so a crash or a re-run can neither lose nor repeat a side effect."""
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
                jobs, skipped = plan_jobs(decision.actions, records, delivery, settings)
                pipe.multi()
                for record in decision.records.values():
                    store.save(record, now, client=pipe)
                _enqueue(conn, pipe, jobs)
                pipe.execute()
                break
            except WatchError:
                continue
        else:
            raise RuntimeError("booking records kept changing; giving up this run (it will be retried)")
    summary = {
        "status": "applied",
        "event": delivery.event,
        "records": {keys.digest(u): r.status for u, r in decision.records.items()},
        "jobs": [job.job_id for job in jobs],
        "skipped": [f"{s.what}:{s.reason}" for s in skipped],
        "notes": list(decision.notes),
    }
    log.info("delivery applied: %s", delivery.event, extra={k: v for k, v in summary.items() if k != "status"})
    return summary


def _enqueue(conn, pipe, jobs: list[JobSpec]) -> None:
    by_queue: dict[str, list[JobSpec]] = defaultdict(list)
    for job in jobs:
        by_queue[job.queue].append(job)
    for name, specs in by_queue.items():
        queue = Queue(name, connection=conn)
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    spec.func,
                    args=(spec.data,),
                    job_id=spec.job_id,
                    timeout=defaults.JOB_TIMEOUT,
                    result_ttl=defaults.SIDE_EFFECT_RESULT_TTL,
                    failure_ttl=defaults.FAILED_JOB_TTL,
                )
                for spec in specs
            ],
            pipeline=pipe,
        )


def send_sms(message: dict[str, Any]) -> dict[str, Any]:
    ctx = context.current()
    sms = OutboundSms(key=message["key"], kind=message["kind"], to=message["to"], params=message["params"])
    provider_id = idempotency.run_once(get_current_job().connection, sms.key, lambda: ctx.sms.send(sms))
    if provider_id is None:
        log.info("sms %s already sent", sms.kind, extra={"sms_kind": sms.kind, "to": mask_phone(sms.to)})
        return {"status": "duplicate"}
    return {"status": "sent", "backend": ctx.sms.name, "provider_id": provider_id}


def sync_crm(update: dict[str, Any]) -> dict[str, Any]:
    ctx = context.current()
    if ctx.crm is None:
        return {"status": "skipped", "reason": "crm_off"}
    change = ContactUpdate(key=update["key"], kind=update["kind"], contact=update["contact"], event=update["event"])
    crm = ctx.crm

    def apply() -> str:
        crm.apply(change)
        return crm.name

    if idempotency.run_once(get_current_job().connection, change.key, apply) is None:
        return {"status": "duplicate"}
    return {"status": "synced", "backend": crm.name}


def _event_name(envelope: Any) -> str | None:
    event = envelope.get("event") if isinstance(envelope, dict) else None
    return event if isinstance(event, str) else None
