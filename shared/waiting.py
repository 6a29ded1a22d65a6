"""Deliveries received and not yet applied, per booking.

A worker takes the notices right after the delivery that planned them
(worker/rq_worker.MessagesBetweenDeliveries), not after every delivery in the queue, so
that a burst's first confirmation leaves at once instead of after all its deliveries. A
later delivery of the same booking may still be waiting, though: a cancellation received
a moment after the booking. A booking cancelled before its confirmation went out must get
only the cancellation, so a notice waits for its own booking's deliveries:

- the receiver adds each delivery's id to a set per booking the delivery affects, in the
  script that enqueues it (web/intake.py);
- the worker removes it in the transaction that applies the delivery (worker/apply.py), or
  when the delivery cannot be used at all;
- a notice whose booking's set is not empty is scheduled again a moment later
  (worker/sending.py).

A notice waits while one of those deliveries can still be applied (its job queued, started,
deferred or scheduled); the id of one whose job failed or is gone is dropped from the set
then, so that a delivery that fails for good holds its booking's notices for one wait, not
for ever. Bounded besides: a set lapses ``WAITING_DELIVERY_TTL`` (a day) after its last
delivery arrived, and a notice waits at most ``NOTICE_MAX_WAITS`` times (about a day).
"""

from __future__ import annotations

import hashlib
from typing import Any

from rq.job import Job

from shared import defaults, keys
from shared.booking import BookingRecord
from shared.scrub import Verbatim

INVITEE_CREATED = "invitee.created"


def delivery_id(envelope: dict[str, Any]) -> str:
    """A stable id for a delivery: the same for every redelivery of it. Calendly has no
    delivery id, so it is made from (``event``, ``payload.uri``, envelope ``created_at``)."""
    parts = (envelope["event"], envelope["payload"]["uri"], envelope.get("created_at") or "")
    # surrogatepass: JSON may carry a lone surrogate escape (\ud800), which strict UTF-8 refuses.
    return Verbatim(hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32])


def booking_uris(envelope: Any) -> list[str]:
    """The invitees whose records applying this delivery reads (as
    worker/lifecycle.affected_invitees, but from the envelope as received, so that the
    receiver and the worker name the same sets whatever the parser makes of it)."""
    if not isinstance(envelope, dict):
        return []
    event, payload = envelope.get("event"), envelope.get("payload")
    if not isinstance(event, str) or not event.startswith("invitee") or not isinstance(payload, dict):
        return []
    uri = payload.get("uri")
    if not isinstance(uri, str):
        return []
    old = payload.get("old_invitee")
    if event == INVITEE_CREATED and isinstance(old, str) and old and old != uri:
        return [uri, old]
    return [uri]


def set_keys(envelope: Any) -> list[str]:
    return [keys.waiting_deliveries(uri) for uri in booking_uris(envelope)]


def hold(client, envelope: Any, job_id: str) -> None:
    """An operator put a delivery back (a failed one retried, or replayed under a new job
    id): its bookings' notices wait for it again, as for one the receiver accepted. The
    member names the job (``keys.event_job`` of it is ``job_id``), so ``still_waiting``
    follows the replay's job, not the original's; a replay is not removed by ``forget``
    (which names the delivery) but is dropped by the first notice after its job finished."""
    member = job_id.removeprefix(keys.event_job(""))
    for name in set_keys(envelope):
        client.sadd(name, member)
        client.expire(name, defaults.WAITING_DELIVERY_TTL)


def forget(client, envelope: Any) -> None:
    """The delivery is applied (or never will be): its bookings' notices need not wait for
    it. ``client`` is a pipeline inside the applying transaction, or a connection."""
    names = set_keys(envelope)
    # One whose created_at is not text never passed the receiver, which names its sets.
    if names and isinstance(envelope.get("created_at") or "", str):
        ident = delivery_id(envelope)
        for name in names:
            client.srem(name, ident)


def record_and_waiting(conn, invitee_uri: str) -> tuple[BookingRecord | None, int]:
    """A booking's record and how many of its deliveries wait to be applied, read in one
    transaction: no delivery can be applied between the two reads."""
    with conn.pipeline() as pipe:
        pipe.get(keys.booking(invitee_uri))
        pipe.scard(keys.waiting_deliveries(invitee_uri))
        raw, count = pipe.execute()
    return (BookingRecord.from_json(raw) if raw else None), count


LIVE_JOB_STATES = {b"queued", b"started", b"deferred", b"scheduled"}
"""A delivery's ``process_event`` job in these states can still be applied (RQ's statuses)."""


def still_waiting(conn, invitee_uri: str) -> bool:
    """Whether a delivery of this booking can still be applied; the ids of those that
    cannot (their job failed, or is gone) are dropped from the set."""
    name = keys.waiting_deliveries(invitee_uri)
    ids = [member.decode() for member in conn.smembers(name)]
    with conn.pipeline(transaction=False) as pipe:
        for ident in ids:
            pipe.hget(Job.key_for(keys.event_job(ident)), "status")
        states = pipe.execute()
    dead = [ident for ident, state in zip(ids, states) if state not in LIVE_JOB_STATES]
    if dead:
        conn.srem(name, *dead)
    return len(dead) < len(ids)
