"""Every SMS decision in the ledger, through the real path: a delivery applied by a worker,
reminders fired by the scheduler, the fake EngageLab over HTTP. Planned (with its due
time), skipped at planning or at firing with its reason, sent with the provider's id (and
the ledger id in custom_args), failed with the code; opted-out numbers get nothing."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.job import Job
from rq_scheduler import Scheduler

from shared import defaults, ledger, optouts, stats
from shared.calendly import samples
from tests.fakes import FakeEngageLab
from tests.helpers import run_jobs
from worker.messages import message_key
from worker.scheduling import BatchScheduler

PHONE = "+14045551234"
TEMPLATES = {"TEMPLATE_ID_CONFIRM": "101", "TEMPLATE_ID_CANCEL": "102", "TEMPLATE_ID_REMINDER": "104",
             "TEMPLATE_ID_FOLLOWUP": "105"}


@pytest.fixture
def engagelab(monkeypatch):
    with FakeEngageLab() as fake:
        env = {"SMS_BACKEND": "engagelab", "ENGAGELAB_DEV_KEY": "dev-key", "ENGAGELAB_DEV_SECRET": "dev-secret",
               "ENGAGELAB_API_URL": fake.url, "CRM_BACKEND": "off", "REMINDER_OFFSETS": "24h,1h",
               "FOLLOWUP_DELAY": "30m", **TEMPLATES}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield fake


def booking(days: float = 2, phone: str = PHONE):
    start = (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)
    return samples.invitee_payload(start=start, duration=timedelta(minutes=30), phone=phone)


def apply(conn, event, payload):
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(defaults.PROCESS_EVENT_FUNC,
                                                          samples.envelope(event, payload), None)
    run_jobs(conn)


def fire(conn, job_id):
    conn.zadd(Scheduler.scheduled_jobs_key, {job_id: int(time.time()) - 1})
    BatchScheduler(connection=conn).enqueue_jobs()
    run_jobs(conn)


def message(conn, kind, slot, uri):
    return ledger.load(conn, ledger.message_id(message_key(kind, slot, uri)))


def test_a_booking_s_messages_from_plan_to_send(conn, engagelab):
    payload = booking()
    apply(conn, "invitee.created", payload)
    uri, start = payload["uri"], datetime.fromisoformat(payload["scheduled_event"]["start_time"])
    confirm = message(conn, "confirm", "invitee", uri)
    assert confirm.state == "sent" and confirm.to == "+1404*****34" and confirm.template == "101"
    [sent] = engagelab.messages()
    assert sent["custom_args"]["relay_message"] == confirm.id
    assert confirm.provider_id == "msg-1"
    by_kind = {(m.kind, m.offset): m for m in ledger.for_booking(conn, uri)}
    assert set(by_kind) == {("confirm", None), ("reminder", 86400), ("reminder", 3600), ("followup", None),
                            ("host_notify", None)}
    assert (by_kind[("host_notify", None)].state, by_kind[("host_notify", None)].reason) == \
        ("skipped", "template_disabled")
    reminder = by_kind[("reminder", 3600)]
    assert reminder.state == "planned" and reminder.due == int((start - timedelta(hours=1)).timestamp())
    assert by_kind[("followup", None)].due == int((start + timedelta(minutes=60)).timestamp())
    [job_id] = [j for j in Scheduler(connection=conn).get_jobs() if j.id.startswith("reminder-3600")]
    fire(conn, job_id.id)
    reminder = ledger.load(conn, reminder.id)
    assert reminder.state == "sent" and reminder.provider_id == "msg-2"
    assert [e.name for e in reminder.events] == ["planned", "sent"]
    assert engagelab.messages()[-1]["custom_args"]["relay_message"] == reminder.id
    counts = stats.read(conn, "messages")
    assert counts[("reminder", "planned", "")] == 2 and counts[("reminder", "sent", "")] == 1


def test_a_cancelled_booking_s_reminder_is_skipped_when_it_fires(conn, engagelab):
    payload = booking()
    apply(conn, "invitee.created", payload)
    [job] = [j for j in Scheduler(connection=conn).get_jobs() if j.id.startswith("reminder-86400")]
    # The booking is cancelled behind the scheduler's back: the job still fires.
    from shared.booking import BookingStore
    store = BookingStore(conn)
    record = store.load(payload["uri"])
    store.save(record.evolve(status="canceled"), datetime.now(timezone.utc))
    fire(conn, job.id)
    skipped = message(conn, "reminder", 86400, payload["uri"])
    assert (skipped.state, skipped.reason) == ("skipped", "booking_canceled")


def test_skips_at_planning_carry_their_reason(conn, engagelab, monkeypatch):
    monkeypatch.delenv("TEMPLATE_ID_FOLLOWUP")
    payload = booking(days=0.5)  # the 24 h reminder is already past
    apply(conn, "invitee.created", payload)
    uri = payload["uri"]
    assert (message(conn, "reminder", 86400, uri).state, message(conn, "reminder", 86400, uri).reason) == \
        ("skipped", "already_past")
    followup = message(conn, "followup", None, uri)
    assert (followup.state, followup.reason, followup.kind) == ("skipped", "template_disabled", "followup")
    premium = booking(phone="+44 909 879 0000")
    apply(conn, "invitee.created", premium)
    entries = ledger.for_booking(conn, premium["uri"])
    assert {(m.kind, m.state, m.reason) for m in entries} == {
        ("host_notify", "skipped", "template_disabled"), ("confirm", "skipped", "premium_rate"), ("reminder", "skipped", "premium_rate"),
        ("followup", "skipped", "premium_rate")}
    assert all(m.to == "+4490******00" for m in entries if m.kind != "host_notify")


def test_a_permanent_failure_is_recorded_with_its_code(conn, engagelab):
    engagelab.answer("/v1/messages", 200, {"code": 3002, "message": f"invalid number {PHONE}"})
    payload = booking()
    apply(conn, "invitee.created", payload)
    confirm = message(conn, "confirm", "invitee", payload["uri"])
    assert (confirm.state, confirm.reason) == ("failed", "3002")
    assert PHONE not in str(confirm.events[-1].detail)


def test_an_opted_out_number_gets_nothing(conn, engagelab):
    optouts.add(conn, PHONE, "operator")
    payload = booking()
    apply(conn, "invitee.created", payload)
    assert engagelab.messages() == []
    assert Scheduler(connection=conn).count() == 0
    entries = ledger.for_booking(conn, payload["uri"])
    assert {(m.kind, m.offset, m.state, m.reason) for m in entries if m.kind != "host_notify"} == {
        ("confirm", None, "skipped", "opted_out"), ("reminder", 86400, "skipped", "opted_out"),
        ("reminder", 3600, "skipped", "opted_out"), ("followup", None, "skipped", "opted_out")}
    assert stats.read(conn, "sms")[("confirm", "skipped", "opted_out")] == 1


def test_opted_out_after_planning_the_send_is_skipped(conn, engagelab):
    payload = booking()
    apply(conn, "invitee.created", payload)
    optouts.add(conn, PHONE, "reply")
    [job] = [j for j in Scheduler(connection=conn).get_jobs() if j.id.startswith("reminder-3600")]
    fire(conn, job.id)
    assert len(engagelab.messages()) == 1  # the confirmation only
    reminder = message(conn, "reminder", 3600, payload["uri"])
    assert (reminder.state, reminder.reason) == ("skipped", "opted_out")
    assert Job.fetch(job.id, connection=conn).return_value()["reason"] == "opted_out"


def test_a_refusal_for_an_unsubscribed_number_opts_it_out(conn, engagelab):
    engagelab.answer("/v1/messages", 200, {"code": 5019, "message": "user unsubscribed"})
    payload = booking()
    apply(conn, "invitee.created", payload)
    assert optouts.is_opted_out(conn, PHONE)
    assert [entry.source for entry in optouts.entries(conn)] == ["provider"]
    assert Scheduler(connection=conn).count() == 0  # its reminders removed
    assert (message(conn, "reminder", 3600, payload["uri"]).reason) == "opted_out"


@pytest.mark.parametrize("make, reason", [
    (lambda p: samples.canceled(p), "booking_canceled"),
    (lambda p: samples.canceled(p, rescheduled_to=p["uri"] + "-new"), "booking_rescheduled"),
])
def test_reminders_removed_by_a_cancellation_are_skipped_with_the_reason(conn, engagelab, make, reason):
    payload = booking()
    apply(conn, "invitee.created", payload)
    apply(conn, "invitee.canceled", make(payload))
    for kind, slot in (("reminder", 86400), ("reminder", 3600), ("followup", None)):
        entry = message(conn, kind, slot, payload["uri"])
        assert (entry.state, entry.reason) == ("skipped", reason)


def test_the_ledger_and_its_indexes_hold_no_clear_number_or_address(conn, engagelab):
    payload = booking()
    apply(conn, "invitee.created", payload)
    optouts.add(conn, "+14045550000", "operator")
    apply(conn, "invitee.created", booking(phone="+14045550000"))
    patterns = ("relay:msg:*", "relay:ledger:*", "relay:optouts", "relay:bookings:phone:*", "relay:stats:*")
    found = [key for pattern in patterns for key in conn.scan_iter(pattern)]
    assert len(found) > 10
    for key in found:
        dump = conn.dump(key)
        for secret in (b"4045551234", b"4045550000", payload["email"].encode(), b"jane"):
            assert secret not in key and secret not in dump, key
