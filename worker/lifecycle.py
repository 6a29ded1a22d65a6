"""The booking lifecycle, as a pure function: (delivery, stored records, now) → decision.

No Redis, no settings, no clock of its own, so every order of events can be tested as a
table. The rules that make it order-independent:

- ``invitee.canceled`` is terminal. A late ``invitee.created`` for a cancelled (or
  rescheduled) invitee fills in the details and sends nothing.
- A reschedule touches two invitees. Either half marks the old invitee ``rescheduled``:
  the cancelled half directly, the created half through its ``old_invitee`` link (a stub
  record is written when the old invitee was never seen). So both orders end alike.
- No-show marks and their removal are ordered by the envelope's ``created_at``; the
  later one wins whatever order they arrive in.
- Re-applying an event that is already reflected in the record changes nothing and
  decides no action, so redeliveries and re-run jobs are harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.booking import BookingRecord
from shared.calendly.payloads import (
    BACKFILL,
    INVITEE_CANCELED,
    INVITEE_CREATED,
    NO_SHOW_CREATED,
    NO_SHOW_DELETED,
    ROUTING_FORM_SUBMISSION,
    Delivery,
    Invitee,
    RoutingFormSubmission,
)
from shared.phone import find_invitee_phone
from shared.vocabulary import BookingStatus, ContactStatus, Recipient, SmsKind
from worker.actions import Action, CancelScheduled, Decision, ScheduleReminders, SendSms, SyncContact, SyncLead



def affected_invitees(delivery: Delivery) -> list[str]:
    """The records ``decide`` needs to see for this delivery."""
    payload = delivery.payload
    if not isinstance(payload, Invitee):
        return []
    uris = [payload.uri]
    if delivery.event == INVITEE_CREATED and payload.old_invitee and payload.old_invitee != payload.uri:
        uris.append(payload.old_invitee)
    return uris


def decide(delivery: Delivery, stored: dict[str, BookingRecord | None], now: datetime) -> Decision:
    at = delivery.created_at or now
    if delivery.event == ROUTING_FORM_SUBMISSION:
        assert isinstance(delivery.payload, RoutingFormSubmission)
        return Decision(actions=(SyncLead(delivery.payload),))
    invitee = delivery.invitee
    current = stored.get(invitee.uri)
    if delivery.event == INVITEE_CREATED:
        return _created(invitee, current, stored, at, now, backfill=delivery.source == BACKFILL)
    if delivery.event == INVITEE_CANCELED:
        return _canceled(invitee, current, at)
    if delivery.event == NO_SHOW_CREATED:
        return _no_show_marked(invitee, current, at)
    if delivery.event == NO_SHOW_DELETED:
        return _no_show_cleared(invitee, current, at)
    return Decision(notes=(f"unsupported event {delivery.event}",))


def details_from(invitee: Invitee) -> dict:
    """Record fields taken from any invitee payload (all four events carry them)."""
    phone = find_invitee_phone(
        invitee.text_reminder_number,
        invitee.questions_and_answers,
        invitee.location_type,
        invitee.location,
    )
    return dict(
        email=invitee.email,
        name=invitee.name,
        phone=phone.e164,
        phone_issue=phone.reason,
        timezone=invitee.timezone,
        start=invitee.start,
        end=invitee.end,
        scheduled_event_uri=invitee.scheduled_event_uri,
        event_type_uri=invitee.event_type_uri,
        event_type_name=invitee.event_type_name,
        join_url=invitee.join_url,
    )


def _fresh(invitee: Invitee, status: str, event: str, at: datetime, **extra) -> BookingRecord:
    return BookingRecord(
        invitee_uri=invitee.uri,
        status=status,
        last_event=event,
        last_event_at=at,
        **details_from(invitee),
        **extra,
    )


def _created(invitee, current, stored, at, now, backfill: bool = False) -> Decision:
    if current is not None and current.created_seen:
        if current.notified or backfill:
            return Decision(notes=("invitee.created already applied",))
        return _confirm_backfilled(invitee, current, at, now)
    links = {"old_invitee": invitee.old_invitee} if invitee.old_invitee else {}
    notified = not backfill
    if current is None:
        record = _fresh(invitee, BookingStatus.ACTIVE, INVITEE_CREATED, at, created_seen=True, notified=notified,
                        **links)
    else:
        # Something about this booking arrived first; keep its status, add the details.
        record = current.evolve(
            created_seen=True,
            notified=notified,
            last_event=INVITEE_CREATED,
            last_event_at=at,
            **{**details_from(invitee), **links},
        )
    records = {record.invitee_uri: record}
    notes: list[str] = []
    cancels: tuple[Action, ...] = ()
    if invitee.old_invitee and invitee.old_invitee != invitee.uri:
        previous = stored.get(invitee.old_invitee)
        old = _superseded(previous, invitee, at)
        if old is not None:
            records[old.invitee_uri] = old
            if previous is not None and previous.status in (BookingStatus.ACTIVE, BookingStatus.NO_SHOW):
                cancels = (CancelScheduled(old.invitee_uri),)
    rescheduled = bool(invitee.old_invitee)
    # The CRM hears of the booking whatever came first: its "booked" event is a fact of
    # the contact's history, as in a run where the deliveries came in order. The upsert
    # carries the booking's own time, so it never overwrites a later status.
    sync_at = at
    if current is not None and current.last_event_at is not None and sync_at >= current.last_event_at:
        # A booking is made before anything else happens to it, whatever the envelope
        # says (a missing created_at reads as "now").
        sync_at = current.last_event_at - timedelta(microseconds=1)
    status = ContactStatus.RESCHEDULED if rescheduled else ContactStatus.BOOKED
    sync = SyncContact(status, record.invitee_uri, sync_at, INVITEE_CREATED)
    if record.status != BookingStatus.ACTIVE:
        notes.append(f"booking is {record.status}: no confirmation")
        return Decision(records=records, actions=cancels + (sync,), notes=tuple(notes))
    if record.start is not None and record.start <= now:
        notes.append("meeting already started: no confirmation")
        return Decision(records=records, actions=cancels + (sync,), notes=tuple(notes))
    if backfill:  # made before the relay knew of it: record, remind and sync, but no notices
        actions = cancels + (ScheduleReminders(record.invitee_uri), sync)
        return Decision(records=records, actions=actions, notes=("backfill: no confirmation",))
    actions = cancels + (*_notices(record, rescheduled), ScheduleReminders(record.invitee_uri), sync)
    return Decision(records=records, actions=actions, notes=tuple(notes))


def _notices(record: BookingRecord, rescheduled: bool) -> tuple[Action, ...]:
    return (
        SendSms(SmsKind.RESCHEDULE if rescheduled else SmsKind.CONFIRM, record.invitee_uri),
        SendSms(SmsKind.HOST_NOTIFY, record.invitee_uri, recipient=Recipient.HOST),
    )


def _confirm_backfilled(invitee, current: BookingRecord, at, now) -> Decision:
    """The live webhook of a booking that backfill or reconciliation recorded first: the
    notices were never sent, so send them now (if the booking is still ahead)."""
    record = current.evolve(notified=True)
    if record.status != BookingStatus.ACTIVE or (record.start is not None and record.start <= now):
        return Decision(records={record.invitee_uri: record}, notes=("backfilled booking no longer ahead",))
    return Decision(records={record.invitee_uri: record}, actions=_notices(record, bool(invitee.old_invitee)))


def _superseded(old: BookingRecord | None, new: Invitee, at: datetime) -> BookingRecord | None:
    """The old invitee of a reschedule, as the created half sees it."""
    if old is None:
        return BookingRecord(
            invitee_uri=new.old_invitee,
            status=BookingStatus.RESCHEDULED,
            new_invitee=new.uri,
            last_event=INVITEE_CREATED,
            last_event_at=at,
        )
    if old.status in (BookingStatus.ACTIVE, BookingStatus.NO_SHOW):
        return old.evolve(status=BookingStatus.RESCHEDULED, new_invitee=new.uri, last_event=INVITEE_CREATED,
                          last_event_at=at)
    if old.new_invitee is None:
        return old.evolve(new_invitee=new.uri)
    return None


def _canceled(invitee, current, at) -> Decision:
    if invitee.rescheduled:
        return _canceled_for_reschedule(invitee, current, at)
    if current is None:
        record = _fresh(invitee, BookingStatus.CANCELED, INVITEE_CANCELED, at)
    elif current.status in (BookingStatus.CANCELED, BookingStatus.RESCHEDULED):
        return Decision(notes=(f"booking already {current.status}",))
    else:
        record = current.evolve(status=BookingStatus.CANCELED, last_event=INVITEE_CANCELED, last_event_at=at)
    return Decision(
        records={record.invitee_uri: record},
        actions=(
            CancelScheduled(record.invitee_uri),
            SendSms(SmsKind.CANCEL, record.invitee_uri),
            SyncContact(ContactStatus.CANCELLED, record.invitee_uri, at, INVITEE_CANCELED),
        ),
    )


def _canceled_for_reschedule(invitee, current, at) -> Decision:
    """The old half of a reschedule: no cancellation notice, the new booking speaks."""
    link = {"new_invitee": invitee.new_invitee} if invitee.new_invitee else {}
    if current is None:
        record = _fresh(invitee, BookingStatus.RESCHEDULED, INVITEE_CANCELED, at, **link)
    elif current.status == BookingStatus.RESCHEDULED:
        if current.new_invitee or not link:
            return Decision(notes=("booking already rescheduled",))
        record = current.evolve(**link)
    elif current.status == BookingStatus.CANCELED:
        return Decision(notes=("booking already canceled",))
    else:
        record = current.evolve(status=BookingStatus.RESCHEDULED, last_event=INVITEE_CANCELED, last_event_at=at, **link)
        return Decision(
            records={record.invitee_uri: record},
            actions=(CancelScheduled(record.invitee_uri),),
            notes=("reschedule: no cancellation notice",),
        )
    return Decision(records={record.invitee_uri: record}, notes=("reschedule: no cancellation notice",))


def _no_show_marked(invitee, current, at) -> Decision:
    if current is None:
        record = _fresh(invitee, BookingStatus.NO_SHOW, NO_SHOW_CREATED, at, no_show_marked_at=at)
        return Decision(
            records={record.invitee_uri: record},
            actions=(SendSms(SmsKind.NO_SHOW, record.invitee_uri),
                     SyncContact(ContactStatus.NO_SHOW, record.invitee_uri, at, at.isoformat())),
        )
    if current.status in (BookingStatus.CANCELED, BookingStatus.RESCHEDULED):
        return Decision(notes=(f"booking is {current.status}: no-show ignored",))
    if current.no_show_marked_at is not None and at <= current.no_show_marked_at:
        return Decision(notes=("no-show already applied",))
    return _no_show_toggle(current, NO_SHOW_CREATED, at, no_show_marked_at=at)


def _no_show_cleared(invitee, current, at) -> Decision:
    if current is None:
        record = _fresh(invitee, BookingStatus.ACTIVE, NO_SHOW_DELETED, at, no_show_cleared_at=at)
        return Decision(records={record.invitee_uri: record},
                        actions=(SyncContact(ContactStatus.BOOKED, record.invitee_uri, at, at.isoformat()),),
                        notes=("no-show removal for an unknown booking",))
    if current.status in (BookingStatus.CANCELED, BookingStatus.RESCHEDULED):
        return Decision(notes=(f"booking is {current.status}: no-show removal ignored",))
    if current.no_show_cleared_at is not None and at <= current.no_show_cleared_at:
        return Decision(notes=("no-show removal already applied",))
    return _no_show_toggle(current, NO_SHOW_DELETED, at, no_show_cleared_at=at)


def _no_show_toggle(current: BookingRecord, event: str, at: datetime, **stamp) -> Decision:
    """Apply a no-show mark or removal; the newer of the two stamps decides the status."""
    updated = current.evolve(last_event=event, last_event_at=at, **stamp)
    marked, cleared = updated.no_show_marked_at, updated.no_show_cleared_at
    is_no_show = marked is not None and (cleared is None or marked > cleared)
    status = BookingStatus.NO_SHOW if is_no_show else BookingStatus.ACTIVE
    record = updated.evolve(status=status)
    if status == current.status:
        # Out of order (a mark older than its removal, or the reverse): the status stands,
        # but the CRM still gets this change's event, as in an in-order run; its older
        # time keeps the upsert from overwriting the newer status.
        late_status = ContactStatus.NO_SHOW if event == NO_SHOW_CREATED else ContactStatus.BOOKED
        late = SyncContact(late_status, record.invitee_uri, at, at.isoformat())
        return Decision(records={record.invitee_uri: record}, actions=(late,),
                        notes=(f"{event} arrived out of order",))
    if status == BookingStatus.NO_SHOW:  # the follow-up is for people who came
        actions: tuple[Action, ...] = (
            CancelScheduled(record.invitee_uri),
            SendSms(SmsKind.NO_SHOW, record.invitee_uri),
            SyncContact(ContactStatus.NO_SHOW, record.invitee_uri, at, at.isoformat()),
        )
    else:  # the follow-up comes back (reminders already past are skipped when planning)
        actions = (ScheduleReminders(record.invitee_uri),
                   SyncContact(ContactStatus.BOOKED, record.invitee_uri, at, at.isoformat()))
    return Decision(records={record.invitee_uri: record}, actions=actions)
