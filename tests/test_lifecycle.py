"""The lifecycle as tables over event orders: same final state whatever the order,
no message for a booking that is no longer active, nothing twice."""

from datetime import datetime, timedelta, timezone
from itertools import permutations

import pytest

from shared.calendly import samples
from shared.calendly.payloads import parse_delivery
from shared.vocabulary import BookingStatus, ContactStatus, SmsKind
from worker.actions import ScheduleReminders, SendSms, SyncContact, SyncLead
from worker.lifecycle import affected_invitees, decide

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
START = NOW + timedelta(days=2)


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def delivery(event, payload, minute=0):
    return parse_delivery(samples.envelope(event, payload, created_at=at(minute)))


def run(deliveries, now=NOW):
    """Apply deliveries in order, as process_event does, against an in-memory store."""
    store, actions = {}, []
    for item in deliveries:
        uris = affected_invitees(item)
        decision = decide(item, {uri: store.get(uri) for uri in uris}, now)
        store.update(decision.records)
        actions.extend(decision.actions)
    return store, actions


def sms(actions, invitee=None):
    return [(a.kind, a.recipient) for a in actions if isinstance(a, SendSms) and (invitee is None or a.invitee_uri == invitee)]


def contact(actions):
    return [a.status for a in actions if isinstance(a, SyncContact)]


@pytest.fixture
def booking():
    return samples.invitee_payload(start=START, created_at=NOW)


@pytest.fixture
def reschedule(booking):
    new = samples.rescheduled(booking, start=START + timedelta(days=1), at=at(10))
    old_half = samples.canceled(booking, at=at(10), rescheduled_to=new["uri"])
    return (
        delivery("invitee.created", booking, 0),
        delivery("invitee.canceled", old_half, 10),
        delivery("invitee.created", new, 10),
        booking["uri"],
        new["uri"],
    )


def test_booking_sends_confirmation_host_notice_and_crm(booking):
    store, actions = run([delivery("invitee.created", booking)])
    record = store[booking["uri"]]
    assert record.status == BookingStatus.ACTIVE and record.created_seen
    assert record.phone == "+14045551234"
    assert record.start == START
    assert sms(actions) == [(SmsKind.CONFIRM, "invitee"), (SmsKind.HOST_NOTIFY, "host")]
    assert contact(actions) == [ContactStatus.BOOKED]


def test_redelivered_booking_decides_nothing_more(booking):
    once = run([delivery("invitee.created", booking)])
    twice = run([delivery("invitee.created", booking)] * 3)
    assert twice == once


def test_cancel_after_booking(booking):
    store, actions = run([
        delivery("invitee.created", booking, 0),
        delivery("invitee.canceled", samples.canceled(booking, at=at(5)), 5),
    ])
    assert store[booking["uri"]].status == BookingStatus.CANCELED
    assert sms(actions) == [(SmsKind.CONFIRM, "invitee"), (SmsKind.HOST_NOTIFY, "host"), (SmsKind.CANCEL, "invitee")]
    assert contact(actions) == [ContactStatus.BOOKED, ContactStatus.CANCELLED]


def test_cancel_before_create_ends_cancelled_without_confirmation(booking):
    in_order, _ = run([
        delivery("invitee.created", booking, 0),
        delivery("invitee.canceled", samples.canceled(booking, at=at(5)), 5),
    ])
    store, actions = run([
        delivery("invitee.canceled", samples.canceled(booking, at=at(5)), 5),
        delivery("invitee.created", booking, 0),
    ])
    assert store[booking["uri"]].status == in_order[booking["uri"]].status == BookingStatus.CANCELED
    assert store[booking["uri"]].created_seen
    assert sms(actions) == [(SmsKind.CANCEL, "invitee")]
    # The CRM still hears of the booking (its "booked" event, as in order); the booking's
    # older time keeps that upsert from overwriting the cancelled status.
    assert sorted(contact(actions)) == sorted([ContactStatus.BOOKED, ContactStatus.CANCELLED])


def test_double_cancel_sends_one_notice(booking):
    cancel = delivery("invitee.canceled", samples.canceled(booking, at=at(5)), 5)
    _, actions = run([delivery("invitee.created", booking), cancel, cancel])
    assert sms(actions).count((SmsKind.CANCEL, "invitee")) == 1


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_reschedule_in_every_order_ends_alike(reschedule, order):
    items = reschedule[:3]
    old_uri, new_uri = reschedule[3], reschedule[4]
    store, actions = run([items[i] for i in order])
    assert store[old_uri].status == BookingStatus.RESCHEDULED
    assert store[old_uri].new_invitee == new_uri
    assert store[new_uri].status == BookingStatus.ACTIVE
    assert store[new_uri].old_invitee == old_uri
    assert sms(actions, new_uri) == [(SmsKind.RESCHEDULE, "invitee"), (SmsKind.HOST_NOTIFY, "host")]
    assert (SmsKind.CANCEL, "invitee") not in sms(actions)
    assert contact(actions).count(ContactStatus.RESCHEDULED) == 1
    assert ContactStatus.CANCELLED not in contact(actions)
    old_created_first = order[0] == 0
    notices = [(SmsKind.CONFIRM, "invitee"), (SmsKind.HOST_NOTIFY, "host")]
    assert sms(actions, old_uri) == (notices if old_created_first else [])


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_reschedule_with_every_delivery_repeated_sends_nothing_twice(reschedule, order):
    items = reschedule[:3]
    _, once = run([items[i] for i in order])
    _, twice = run([items[i] for i in order for _ in range(2)])
    assert twice == once


def test_cancelling_the_new_booking_after_a_reschedule(reschedule):
    created_old, old_half, created_new, old_uri, new_uri = reschedule
    new_payload = created_new.raw["payload"]
    store, actions = run([
        created_old, old_half, created_new,
        delivery("invitee.canceled", samples.canceled(new_payload, at=at(20)), 20),
    ])
    assert store[new_uri].status == BookingStatus.CANCELED
    assert store[old_uri].status == BookingStatus.RESCHEDULED
    assert sms(actions, new_uri)[-1] == (SmsKind.CANCEL, "invitee")


def test_no_show_and_its_removal(booking):
    marked = samples.no_show_marked(booking, at=at(60))
    store, actions = run([
        delivery("invitee.created", booking, 0),
        delivery("invitee_no_show.created", marked, 60),
        delivery("invitee_no_show.deleted", booking, 70),
    ], now=NOW)
    assert store[booking["uri"]].status == BookingStatus.ACTIVE
    assert contact(actions) == [ContactStatus.BOOKED, ContactStatus.NO_SHOW, ContactStatus.BOOKED]
    kinds = [type(a).__name__ for a in actions]
    assert kinds[-2:] == ["ScheduleReminders", "SyncContact"]  # the follow-up comes back


def test_no_show_removal_arriving_first_wins_by_time(booking):
    marked = samples.no_show_marked(booking, at=at(60))
    in_order, in_order_actions = run([
        delivery("invitee.created", booking, 0),
        delivery("invitee_no_show.created", marked, 60),
        delivery("invitee_no_show.deleted", booking, 70),
    ])
    store, actions = run([
        delivery("invitee.created", booking, 0),
        delivery("invitee_no_show.deleted", booking, 70),
        delivery("invitee_no_show.created", marked, 60),
    ])
    assert store[booking["uri"]].status == in_order[booking["uri"]].status == BookingStatus.ACTIVE
    # The same CRM changes as in order (the booking, the no-show, its removal); their
    # times decide the contact's status, not their order of arrival.
    assert sorted(contact(actions)) == sorted(contact(in_order_actions)) == [
        ContactStatus.BOOKED, ContactStatus.BOOKED, ContactStatus.NO_SHOW]


def test_repeated_no_show_mark_is_applied_once(booking):
    mark = delivery("invitee_no_show.created", samples.no_show_marked(booking, at=at(60)), 60)
    store, actions = run([delivery("invitee.created", booking), mark, mark])
    assert store[booking["uri"]].status == BookingStatus.NO_SHOW
    assert contact(actions) == [ContactStatus.BOOKED, ContactStatus.NO_SHOW]


def test_no_show_before_the_booking_arrives(booking):
    mark = delivery("invitee_no_show.created", samples.no_show_marked(booking, at=at(60)), 60)
    store, actions = run([mark, delivery("invitee.created", booking, 0)])
    assert store[booking["uri"]].status == BookingStatus.NO_SHOW
    assert sms(actions) == [("no_show", "invitee")]  # the re-booking message; no confirmation
    assert sorted(contact(actions)) == sorted([ContactStatus.BOOKED, ContactStatus.NO_SHOW])


def test_no_show_for_a_cancelled_booking_is_ignored(booking):
    store, actions = run([
        delivery("invitee.canceled", samples.canceled(booking, at=at(5)), 5),
        delivery("invitee_no_show.created", samples.no_show_marked(booking), 60),
    ])
    assert store[booking["uri"]].status == BookingStatus.CANCELED
    assert contact(actions) == [ContactStatus.CANCELLED]


def test_booking_whose_meeting_already_started_gets_no_confirmation(booking):
    store, actions = run([delivery("invitee.created", booking)], now=START + timedelta(minutes=1))
    assert store[booking["uri"]].status == BookingStatus.ACTIVE
    assert sms(actions) == [] and not any(isinstance(a, ScheduleReminders) for a in actions)
    assert contact(actions) == [ContactStatus.BOOKED]  # the CRM still records the booking


def test_legacy_payload_without_scheduled_event_is_recorded_without_start(booking):
    del booking["scheduled_event"]
    store, actions = run([delivery("invitee.created", booking)])
    assert store[booking["uri"]].start is None
    assert sms(actions) == [(SmsKind.CONFIRM, "invitee"), (SmsKind.HOST_NOTIFY, "host")]


def test_routing_form_submission_syncs_a_lead():
    submission = samples.routing_form_payload()
    store, actions = run([delivery("routing_form_submission.created", submission)])
    assert store == {}
    [action] = actions
    assert isinstance(action, SyncLead)
    assert action.submission.uri == submission["uri"]


def test_a_late_booking_without_a_delivery_time_never_looks_newer_than_its_cancellation(booking):
    # An envelope without created_at reads as "now"; the booking's CRM change must still
    # sort before the cancellation that arrived first.
    cancelled = delivery("invitee.canceled", samples.canceled(booking, at=at(5)), 5)
    late = parse_delivery(dict(samples.envelope("invitee.created", booking), created_at=None))
    store, actions = run([cancelled])
    decision = decide(late, dict(store), NOW + timedelta(days=1))
    [sync] = [a for a in decision.actions if isinstance(a, SyncContact)]
    assert sync.status == ContactStatus.BOOKED and sync.changed_at < store[booking["uri"]].last_event_at
