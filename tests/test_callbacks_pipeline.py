"""The whole story through the Procfile's processes: gunicorn's receiver and a real
``relay worker``, the fake EngageLab over HTTP calling back after each send (status rows,
signed with X-CALLBACK-ID) and on demand (a reply). A booking's confirmation ends
``delivered`` in the ledger; a STOP reply puts the number on the opt-out list, and the
next booking from it gets no SMS."""

from __future__ import annotations

import subprocess

import pytest

from shared import ledger, optouts, stats
from shared.booking import BookingStore
from shared.calendly import samples
from tests.fakes import FakeEngageLab
from tests.faults import harness
from tests.helpers import free_port, wait_until

BIN = harness.BIN

SECRET, USER = "pipeline-callback-secret-5d2e", "relay-pipeline"
PHONE, DISPLAYED = "+14045551234", "+1 404-555-1234"


@pytest.fixture
def engagelab():
    with FakeEngageLab() as fake:
        fake.callback_username, fake.callback_secret = USER, SECRET
        yield fake


@pytest.fixture
def stack(redis_url, engagelab, tmp_path):
    env = harness.relay_env(redis_url, free_port(), **harness.engagelab_env(engagelab.url),
                            ENGAGELAB_CALLBACK_USERNAME=USER, ENGAGELAB_CALLBACK_SECRET=SECRET, WEB_CONCURRENCY="1")
    running = harness.Stack(env, tmp_path)
    running.start("web")
    running.start("worker")
    engagelab.callback_url = f"{running.base_url}/webhooks/engagelab"
    yield running
    running.stop()
    logs = running.logs()
    assert SECRET not in logs and PHONE not in logs and DISPLAYED not in logs


def confirmation(conn, uri):
    return next((m for m in ledger.for_booking(conn, uri) if m.kind == "confirm"), None)


def test_a_message_followed_from_decision_to_delivery_then_stop(stack, engagelab, conn):
    first = samples.invitee_payload(phone=DISPLAYED)
    assert harness.post(stack, samples.envelope("invitee.created", first)) == 200
    wait_until(lambda: (m := confirmation(conn, first["uri"])) and m.state == "delivered", timeout=30,
               what="the confirmation delivered in the ledger")
    engagelab.wait_for_callbacks()
    assert [status for status, _ in engagelab.callbacks] == [200, 200]
    message = confirmation(conn, first["uri"])
    assert {"planned", "sent", "delivered"} <= {event.name for event in message.events}

    assert engagelab.reply(PHONE, "Stop") == 200
    wait_until(lambda: optouts.is_opted_out(conn, PHONE), timeout=30, what="the number opted out")
    second = samples.invitee_payload(phone=DISPLAYED, email="jane.again@example.com")
    assert harness.post(stack, samples.envelope("invitee.created", second)) == 200
    wait_until(lambda: (m := confirmation(conn, second["uri"])) and m.state == "skipped", timeout=30,
               what="the second confirmation skipped")
    assert confirmation(conn, second["uri"]).reason == "opted_out"
    assert len(engagelab.messages()) == 1
    assert stats.read(conn, "engagelab_rows")[("reply", "stop")] == 1


def test_an_unsigned_callback_is_refused_and_nothing_is_processed(stack, engagelab, conn):
    engagelab.callback_secret = None
    assert engagelab.reply(PHONE, "STOP") == 401
    assert not optouts.is_opted_out(conn, PHONE)
    assert stats.read(conn, "engagelab_callbacks") == {("refused_missing_header",): 1}


def simulate(stack, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "relay"), "simulate", *args, "--url", f"{stack.base_url}/webhooks/engagelab",
                           "--username", USER, "--secret", SECRET], capture_output=True, text=True, timeout=60)


def test_relay_simulate_posts_signed_statuses_and_replies(stack, engagelab, conn):
    engagelab.callback_statuses = ()  # only the simulated callbacks
    booking = samples.invitee_payload(phone=DISPLAYED)
    assert harness.post(stack, samples.envelope("invitee.created", booking)) == 200
    wait_until(lambda: confirmation(conn, booking["uri"]), timeout=30, what="the confirmation planned")
    message_id = confirmation(conn, booking["uri"]).id
    result = simulate(stack, "sms-status", message_id, "delivered")
    assert result.returncode == 0 and "200" in result.stdout, result.stdout + result.stderr
    wait_until(lambda: confirmation(conn, booking["uri"]).state == "delivered", timeout=30, what="delivered")
    result = simulate(stack, "sms-reply", PHONE, "c")
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(lambda: BookingStore(conn).load(booking["uri"]).reconfirmed_at, timeout=30, what="reconfirmed")
    wrong = subprocess.run([str(BIN / "relay"), "simulate", "sms-reply", PHONE, "STOP", "--url",
                            f"{stack.base_url}/webhooks/engagelab", "--username", USER, "--secret", "wrong"],
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 1 and "bad_signature" in wrong.stdout
