"""Single-use re-booking links: a cancellation or a no-show gets one link from (a fake)
Calendly, used in the SMS and as the Brevo contact's REBOOK_URL; created once per
booking; skipped cleanly without a Calendly token; retried when Calendly is down."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry

from shared import defaults
from shared.calendly import samples
from tests.fakes import FakeBrevo, FakeCalendly, FakeEngageLab
from tests.helpers import run_jobs
from worker.crm.brevo import BrevoClient, setup_attributes
from worker.crm.fields import effective_mapping

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TEMPLATES = {"TEMPLATE_ID_CONFIRM": "101", "TEMPLATE_ID_CANCEL": "102", "TEMPLATE_ID_NO_SHOW": "107"}


@pytest.fixture
def fakes(monkeypatch):
    with FakeEngageLab() as engagelab, FakeBrevo() as brevo, FakeCalendly() as calendly:
        env = {"SMS_BACKEND": "engagelab", "ENGAGELAB_DEV_KEY": "dev-key", "ENGAGELAB_DEV_SECRET": "dev-secret",
               "ENGAGELAB_API_URL": engagelab.url, "CRM_BACKEND": "brevo", "BREVO_API_KEY": FakeBrevo.API_KEY,
               "BREVO_API_URL": brevo.url, "CALENDLY_ACCESS_TOKEN": FakeCalendly.TOKEN,
               "CALENDLY_API_URL": calendly.url, "REMINDER_OFFSETS": "off", "FOLLOWUP_DELAY": "off", **TEMPLATES}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        setup_attributes(BrevoClient(brevo.url, FakeBrevo.API_KEY), effective_mapping(None))
        yield engagelab, brevo, calendly


def deliver(conn, event, payload, minutes):
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
        defaults.PROCESS_EVENT_FUNC, samples.envelope(event, payload, created_at=NOW + timedelta(minutes=minutes)),
        None)
    run_jobs(conn)


def sent(engagelab, template):
    return [m for m in engagelab.messages() if m["template"] == template]


def test_a_cancellation_gets_one_link_in_the_sms_and_in_brevo(fakes, conn):
    engagelab, brevo, calendly = fakes
    booking = samples.invitee_payload(start=NOW + timedelta(days=2))
    deliver(conn, "invitee.created", booking, 0)
    cancellation = samples.canceled(booking, at=NOW + timedelta(minutes=5))
    deliver(conn, "invitee.canceled", cancellation, 5)
    deliver(conn, "invitee.canceled", cancellation, 5)  # Calendly delivers it again

    [link] = calendly.links
    assert link["owner"].endswith("/event_types/a1b2c3d4-0000-4000-8000-00000000e7e1")
    [cancel] = sent(engagelab, "102")
    assert cancel["params"] == {"name": "Jane Doe", "link": link["booking_url"]}
    contact = brevo.contacts["jane.doe@example.com"]["attributes"]
    assert contact["REBOOK_URL"] == link["booking_url"]
    assert brevo.status_label("jane.doe@example.com") == "cancelled"


def test_a_no_show_gets_its_message_with_a_link(fakes, conn):
    engagelab, brevo, calendly = fakes
    booking = samples.invitee_payload(start=NOW - timedelta(hours=1))
    deliver(conn, "invitee_no_show.created", samples.no_show_marked(booking, at=NOW), 0)
    [link] = calendly.links
    [message] = sent(engagelab, "107")
    assert message["params"] == {"name": "Jane Doe", "link": link["booking_url"]}
    assert brevo.contacts["jane.doe@example.com"]["attributes"]["REBOOK_URL"] == link["booking_url"]


def test_without_a_calendly_token_the_link_is_skipped_and_said_why(fakes, conn, monkeypatch, caplog):
    engagelab, brevo, calendly = fakes
    monkeypatch.delenv("CALENDLY_ACCESS_TOKEN")
    booking = samples.invitee_payload(start=NOW + timedelta(days=2))
    with caplog.at_level(logging.INFO, logger="relay.rebook"):
        deliver(conn, "invitee.canceled", samples.canceled(booking, at=NOW), 0)
        deliver(conn, "invitee_no_show.created", samples.no_show_marked(
            samples.invitee_payload(email="sam@example.com", phone="+1 404-555-7777"), at=NOW), 1)
    assert calendly.links == [] and calendly.requests == []
    [cancel] = sent(engagelab, "102")
    assert cancel["params"] == {"name": "Jane Doe", "link": ""}  # the notice still goes
    assert sent(engagelab, "107") == []  # a no-show message without its link says nothing
    assert "REBOOK_URL" not in brevo.contacts["jane.doe@example.com"]["attributes"]
    reasons = {getattr(r, "reason", None) for r in caplog.records if r.name == "relay.rebook"}
    assert reasons == {"no_calendly_token"}
    assert all(FailedJobRegistry(q, connection=conn).count == 0 for q in defaults.WORKER_QUEUES)


def test_calendly_down_retries_the_message_later(fakes, conn):
    engagelab, brevo, calendly = fakes
    calendly.fail_for(60, 503, {"title": "Service Unavailable", "message": "try later"})
    booking = samples.invitee_payload(start=NOW + timedelta(days=2))
    deliver(conn, "invitee.canceled", samples.canceled(booking, at=NOW), 0)
    assert sent(engagelab, "102") == []
    retries = conn.zrange("rq:scheduler:scheduled_jobs", 0, -1)
    assert {r.decode().rsplit("-retry", 1)[-1] for r in retries} == {"1"} and len(retries) == 2  # the SMS and the CRM
    assert all(FailedJobRegistry(q, connection=conn).count == 0 for q in defaults.WORKER_QUEUES)


def test_calendly_refusing_the_link_sends_the_notice_without_it(fakes, conn):
    engagelab, brevo, calendly = fakes
    calendly.event_types.clear()  # the event type was deleted: Calendly answers 404
    booking = samples.invitee_payload(start=NOW + timedelta(days=2))
    deliver(conn, "invitee.canceled", samples.canceled(booking, at=NOW), 0)
    [cancel] = sent(engagelab, "102")
    assert cancel["params"]["link"] == ""


def _release_retries(conn):
    """Put the scheduled retries on their queues now, as rq-scheduler would when due."""
    from rq.job import Job

    ids = [raw.decode() for raw in conn.zrange("rq:scheduler:scheduled_jobs", 0, -1)]
    conn.delete("rq:scheduler:scheduled_jobs")
    for job in Job.fetch_many(ids, connection=conn):
        Queue(job.origin, connection=conn).enqueue_job(job)
    run_jobs(conn)


def test_calendly_rate_limit_is_retried_after_its_reset_not_waited_out_in_the_job(fakes, conn):
    engagelab, brevo, calendly = fakes
    calendly.answer("/scheduling_links", 429, {"title": "Too Many Requests"}, times=2,
                    headers={"X-RateLimit-Reset": "7"})
    booking = samples.invitee_payload(start=NOW + timedelta(days=2))
    deliver(conn, "invitee.canceled", samples.canceled(booking, at=NOW), 0)
    scores = conn.zrange("rq:scheduler:scheduled_jobs", 0, -1, withscores=True)
    assert len(scores) == 2 and all(4 <= score - datetime.now(timezone.utc).timestamp() <= 8 for _, score in scores)
    _release_retries(conn)
    [link] = calendly.links
    assert sent(engagelab, "102")[0]["params"]["link"] == link["booking_url"]


def test_a_long_calendly_outage_lets_the_cancellation_go_without_its_link(fakes, conn):
    engagelab, brevo, calendly = fakes
    calendly.fail_for(600, 503, {"title": "Service Unavailable"})
    booking = samples.invitee_payload(start=NOW + timedelta(days=2))
    deliver(conn, "invitee.canceled", samples.canceled(booking, at=NOW), 0)
    _release_retries(conn)
    assert sent(engagelab, "102") == []  # still waiting for the link on the second attempt
    _release_retries(conn)
    [cancel] = sent(engagelab, "102")  # the last attempt for a link: the notice goes without
    assert cancel["params"]["link"] == ""
    assert brevo.status_label("jane.doe@example.com") == "cancelled"


def test_an_answer_without_a_booking_url_is_not_asked_again(fakes, conn):
    engagelab, brevo, calendly = fakes
    calendly.answer("/scheduling_links", 201, {"resource": {}}, times=5)
    booking = samples.invitee_payload(start=NOW + timedelta(days=2))
    deliver(conn, "invitee.canceled", samples.canceled(booking, at=NOW), 0)
    assert sent(engagelab, "102")[0]["params"]["link"] == ""
    assert conn.zcard("rq:scheduler:scheduled_jobs") == 0


def test_a_no_show_removed_while_its_link_is_made_sends_nothing(fakes, conn):
    import threading

    from shared.calendly.payloads import parse_delivery
    from shared.settings import Settings
    from worker.apply import apply_delivery

    engagelab, brevo, calendly = fakes
    calendly.delay = 1.0
    booking = samples.invitee_payload(start=NOW - timedelta(hours=1))
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
        defaults.PROCESS_EVENT_FUNC, samples.envelope("invitee_no_show.created", samples.no_show_marked(booking, at=NOW),
                                                      created_at=NOW), None)

    def remove_meanwhile():
        calendly_busy = calendly.arrived
        while calendly.arrived == calendly_busy:
            threading.Event().wait(0.02)
        removal = parse_delivery(samples.envelope("invitee_no_show.deleted", booking,
                                                  created_at=NOW + timedelta(minutes=5)))
        apply_delivery(conn, removal, Settings.from_env(), datetime.now(timezone.utc))  # what its job does

    remover = threading.Thread(target=remove_meanwhile)
    remover.start()
    run_jobs(conn)
    remover.join(timeout=10)
    assert len(calendly.links) == 1 and sent(engagelab, "107") == []
