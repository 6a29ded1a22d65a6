"""Backfill and reconciliation against a local fake Calendly and a real Redis."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
from rq_scheduler import Scheduler

from shared.booking import BookingStore
from shared.calendly import samples
from shared.calendly.client import CalendlyClient
from shared.calendly.payloads import parse_delivery
from tests.fakes import FakeCalendly
from tests.helpers import console_messages, crm_changes, run_jobs
from worker.backfill import backfill, reconcile
from worker.apply import apply_delivery

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def calendly():
    with FakeCalendly(max_page=2) as fake:
        yield fake


@pytest.fixture
def client(calendly):
    return CalendlyClient(calendly.url, FakeCalendly.TOKEN)


def book(calendly, hours_ahead, i=0, created_ago=timedelta(days=3)):
    payload = samples.invitee_payload(start=NOW + timedelta(hours=hours_ahead), phone=f"+1 404-555-{1000 + i}",
                                      email=f"person{i}@example.com", created_at=NOW - created_ago)
    return calendly.add_booking(payload)


def as_webhook(calendly, invitee):
    """The webhook payload Calendly would have sent for a booking the fake holds."""
    return {**invitee, "scheduled_event": calendly.events[invitee["event"].rsplit("/", 1)[-1]]}


def sms_kinds(caplog):
    return [m["kind"] for m in console_messages(caplog)]


def test_backfill_records_schedules_and_syncs_without_confirmations(conn, calendly, client, settings, caplog):
    invitees = [book(calendly, 10 + i, i) for i in range(5)]
    book(calendly, 24 * 90, 9)  # outside the window
    report = backfill(conn, client, settings, NOW, NOW + timedelta(days=30))
    assert (report.events, report.invitees, report.applied) == (5, 5, 5)
    store = BookingStore(conn)
    for invitee in invitees:
        record = store.load(invitee["uri"])
        assert record.status == "active" and record.created_seen and not record.notified
    run_jobs(conn)
    assert "confirm" not in sms_kinds(caplog) and "host_notify" not in sms_kinds(caplog)
    assert len(crm_changes(caplog)) == 5
    reminders = [k for k in conn.zrange(Scheduler.scheduled_jobs_key, 0, -1) if k.startswith(b"reminder-")]
    assert len(reminders) == 5  # the 1 h reminders; the 24 h ones were already past
    assert len(calendly.received("/scheduled_events?")) == 3  # three pages of two


def test_backfill_twice_changes_nothing_the_second_time(conn, calendly, client, settings, caplog):
    for i in range(3):
        book(calendly, 30 + i, i)
    backfill(conn, client, settings, NOW, NOW + timedelta(days=5))
    run_jobs(conn)
    second = backfill(conn, client, settings, NOW, NOW + timedelta(days=5))
    assert (second.applied, second.unchanged) == (0, 3)
    run_jobs(conn)
    assert len(crm_changes(caplog)) == 3


def test_dry_run_changes_nothing(conn, calendly, client, settings):
    book(calendly, 30)
    report = backfill(conn, client, settings, NOW, NOW + timedelta(days=5), dry_run=True)
    assert report.applied == 1
    assert conn.keys("relay:booking:*") == []


def test_backfill_concurrent_with_webhooks_sends_nothing_twice(conn, redis_url, calendly, client, settings, caplog):
    """Webhooks for some of the bookings arrive while the backfill runs: each of those
    is confirmed once; the others are not confirmed; every contact is synced once."""
    invitees = [book(calendly, 30 + i, i, created_ago=timedelta(0)) for i in range(8)]
    live = [as_webhook(calendly, invitee) for i, invitee in enumerate(invitees) if i % 2 == 0]
    import redis

    def webhooks():
        other = redis.Redis.from_url(redis_url)
        for payload in live:
            delivery = parse_delivery(samples.envelope("invitee.created", payload, created_at=NOW))
            apply_delivery(other, delivery, settings, datetime.now(timezone.utc))

    thread = threading.Thread(target=webhooks)
    thread.start()
    backfill(conn, client, settings, NOW, NOW + timedelta(days=3))
    thread.join()
    backfill(conn, client, settings, NOW, NOW + timedelta(days=3))
    webhooks()  # and Calendly redelivers them
    run_jobs(conn)
    confirmed = sorted(m["to"] for m in console_messages(caplog) if m["kind"] == "confirm")
    assert len(confirmed) == len(live) == len(set(confirmed))
    assert len(crm_changes(caplog)) == len(invitees)


def test_reconciliation_applies_a_cancellation_that_never_arrived(conn, calendly, client, settings, caplog):
    kept = book(calendly, 20, 1)
    dropped = book(calendly, 22, 2)
    for invitee in (kept, dropped):  # both were delivered as webhooks at the time
        apply_delivery(conn, parse_delivery(samples.envelope("invitee.created", as_webhook(calendly, invitee))),
                       settings, NOW)
    scheduled_before = conn.zcard(Scheduler.scheduled_jobs_key)
    calendly.cancel_booking(dropped["uri"])  # ...but the cancellation webhook was lost
    report = reconcile(conn, client, settings, NOW)
    assert report.applied == 1
    store = BookingStore(conn)
    assert store.load(dropped["uri"]).status == "canceled"
    assert store.load(kept["uri"]).status == "active"
    assert conn.zcard(Scheduler.scheduled_jobs_key) < scheduled_before
    run_jobs(conn)
    assert [m["kind"] for m in console_messages(caplog)].count("cancel") == 1


def test_reconciliation_adds_a_missed_booking_and_confirms_a_recent_one(conn, calendly, client, settings, caplog):
    recent = book(calendly, 20, 1, created_ago=timedelta(hours=2))
    old = book(calendly, 21, 2, created_ago=timedelta(days=10))
    reconcile(conn, client, settings, NOW)
    store = BookingStore(conn)
    assert store.load(recent["uri"]).notified and not store.load(old["uri"]).notified
    run_jobs(conn)
    assert sorted(m["kind"] for m in console_messages(caplog)) == ["confirm"]
    reconcile(conn, client, settings, NOW)  # nothing more the second time
    run_jobs(conn)
    assert sorted(m["kind"] for m in console_messages(caplog)) == ["confirm"]


def test_reconciliation_does_not_confirm_what_backfill_recorded(conn, calendly, client, settings, caplog):
    book(calendly, 20, 1, created_ago=timedelta(hours=2))
    backfill(conn, client, settings, NOW, NOW + timedelta(days=2))
    reconcile(conn, client, settings, NOW)
    run_jobs(conn)
    assert console_messages(caplog) == []


def test_user_scope_reads_only_the_users_bookings(conn, calendly, client, settings):
    from dataclasses import replace

    book(calendly, 20, 1)
    backfill(conn, client, replace(settings, calendly_scope="user"), NOW, NOW + timedelta(days=2))
    [listing] = calendly.received("/scheduled_events?")
    assert "user=" in listing["path"] and "organization=" not in listing["path"]
