"""A booking's whole life in a (fake, stateful) Brevo, through a real worker process:
what a marketer would see — one contact, its attributes, its lists, its events — with
duplicate and out-of-order deliveries included."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rq import Queue

from shared import defaults
from shared.calendly import samples
from tests.fakes import FakeBrevo

BIN = Path(sys.executable).parent
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def env(redis_url, brevo, tmp_path):
    config = tmp_path / "relay.yml"
    config.write_text('event_mapping:\n  "30 Minute Meeting": 7\n  Demo: 9\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPLATE_ID_", "ENGAGELAB_"))}
    base.update(REDIS_URL=redis_url, CRM_BACKEND="brevo", BREVO_API_KEY=FakeBrevo.API_KEY,
                BREVO_API_URL=brevo.url, SMS_BACKEND="console", RELAY_CONFIG=str(config))
    return base


def relay(env, *args):
    result = subprocess.run([str(BIN / "relay"), *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def enqueue(conn, event, payload, at):
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
        defaults.PROCESS_EVENT_FUNC, samples.envelope(event, payload, created_at=at), None)


def events_for(brevo, email):
    return [e["event_name"] for e in brevo.events if e["identifiers"]["email_id"] == email]


def test_setup_is_safe_to_run_twice(env, brevo):
    first = relay(env, "crm", "setup").stdout
    definitions = dict(brevo.attribute_defs)
    second = relay(env, "crm", "setup").stdout
    assert "created MEETING_DATE (date)" in first and "created BOOKING_STATUS" in first
    assert "created" not in second
    assert brevo.attribute_defs == definitions
    assert brevo.attribute_defs["BOOKING_STATUS"]["category"] == "category"


def test_a_booking_life_as_a_marketer_sees_it(env, brevo, conn):
    relay(env, "crm", "setup")
    start = NOW + timedelta(days=3)
    jane = samples.invitee_payload(start=start, questions=[("Company", "Acme Inc."), ("Role", "CTO")])
    moved = samples.rescheduled(jane, start=start + timedelta(days=2), at=NOW + timedelta(minutes=10))
    old_half = samples.canceled(jane, rescheduled_to=moved["uri"], at=NOW + timedelta(minutes=10))
    # Jane books; her booking is delivered twice.
    enqueue(conn, "invitee.created", jane, NOW)
    enqueue(conn, "invitee.created", jane, NOW)
    # She reschedules: the new half arrives before the old half, and again.
    enqueue(conn, "invitee.created", moved, NOW + timedelta(minutes=10))
    enqueue(conn, "invitee.canceled", old_half, NOW + timedelta(minutes=10))
    enqueue(conn, "invitee.created", moved, NOW + timedelta(minutes=10))
    relay(env, "worker", "--burst")
    # She misses the meeting; the host then removes the no-show.
    enqueue(conn, "invitee_no_show.created", samples.no_show_marked(moved), NOW + timedelta(days=6))
    relay(env, "worker", "--burst")
    enqueue(conn, "invitee_no_show.deleted", moved, NOW + timedelta(days=6, minutes=5))
    # Bob cancels; the cancellation is delivered before his booking.
    bob = samples.invitee_payload(name="Bob Roe", email="bob.roe@example.com", phone="+44 20 7946 0958",
                                  event_type_name="Demo", start=start)
    enqueue(conn, "invitee.canceled", samples.canceled(bob, at=NOW + timedelta(minutes=1)), NOW + timedelta(minutes=1))
    enqueue(conn, "invitee.created", bob, NOW)
    # Carol books with Jane's number; a routing form brings a lead who never books.
    carol = samples.invitee_payload(name="Carol Poe", email="carol.poe@example.com", start=start)
    enqueue(conn, "invitee.created", carol, NOW)
    enqueue(conn, "routing_form_submission.created",
            samples.routing_form_payload(email="lee.lead@example.com", name="Lee Lead"), NOW)
    relay(env, "worker", "--burst")

    contacts = brevo.contacts
    assert set(contacts) == {"jane.doe@example.com", "bob.roe@example.com", "carol.poe@example.com",
                             "lee.lead@example.com"}
    jane_attributes = contacts["jane.doe@example.com"]["attributes"]
    assert {k: v for k, v in jane_attributes.items() if k != "BOOKING_STATUS"} == {
        "FIRSTNAME": "Jane Doe", "COMPANY": "Acme Inc.", "JOB_TITLE": "CTO", "SMS": "+14045551234",
        "CALENDLY_EVENT_TYPE": "30 Minute Meeting",
        "MEETING_DATE": (start + timedelta(days=2)).astimezone(ZoneInfo("America/New_York")).date().isoformat(),
    }
    assert brevo.status_label("jane.doe@example.com") == "booked"
    assert contacts["jane.doe@example.com"]["listIds"] == {7}
    assert events_for(brevo, "jane.doe@example.com") == [
        "calendly_booked", "calendly_rescheduled", "calendly_no_show", "calendly_booked"]
    rescheduled_event = next(e for e in brevo.events if e["event_name"] == "calendly_rescheduled")
    assert rescheduled_event["event_properties"]["event_type"] == "30 Minute Meeting"
    assert rescheduled_event["event_properties"]["start_time"].startswith(
        (start + timedelta(days=2)).date().isoformat())

    assert brevo.status_label("bob.roe@example.com") == "cancelled"
    # His booking arrived after its cancellation: both events, the status stays cancelled.
    assert sorted(events_for(brevo, "bob.roe@example.com")) == ["calendly_booked", "calendly_cancelled"]
    assert contacts["bob.roe@example.com"]["listIds"] == set()

    assert "SMS" not in contacts["carol.poe@example.com"]["attributes"]  # Jane's number stays Jane's
    assert brevo.status_label("carol.poe@example.com") == "booked"

    lead = contacts["lee.lead@example.com"]["attributes"]
    assert lead.get("COMPANY") == "Acme Inc." and "BOOKING_STATUS" not in lead


def test_brevo_rate_limit_is_waited_out_and_nothing_is_lost(env, brevo, conn):
    relay(env, "crm", "setup")
    brevo.answer("/contacts", 429, {"code": "too_many_requests", "message": "slow down"},
                 headers={"x-sib-ratelimit-reset": "2"})
    enqueue(conn, "invitee.created", samples.invitee_payload(start=NOW + timedelta(days=1)), NOW)
    relay(env, "worker", "--burst")
    assert brevo.contacts == {}
    from rq_scheduler import Scheduler

    from worker.scheduling import BatchScheduler

    [(retry_id, due)] = [(job_id, score) for job_id, score in conn.zrange(
        Scheduler.scheduled_jobs_key, 0, -1, withscores=True) if b"retry" in job_id]
    assert due - datetime.now(timezone.utc).timestamp() <= 35  # max(backoff 30 s, reset 2 s + 1)
    conn.zadd(Scheduler.scheduled_jobs_key, {retry_id: 0})
    BatchScheduler(connection=conn).enqueue_jobs()
    relay(env, "worker", "--burst")
    assert brevo.status_label("jane.doe@example.com") == "booked"
    assert events_for(brevo, "jane.doe@example.com") == ["calendly_booked"]
