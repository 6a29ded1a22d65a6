"""End to end through real parts: an HTTP request to the receiver → Redis → a real
``relay worker`` process → the console backend's output."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from werkzeug.serving import make_server

from shared.calendly import samples
from shared.redis_conn import connect
from tests.helpers import WEBHOOK, json_lines, signed_headers
from web.app import create_app


@pytest.fixture
def receiver(settings, redis_url):
    """The Flask app on a real socket (threaded, like several gunicorn workers)."""
    app = create_app(settings, redis_client=connect(redis_url, fail_fast=True))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{WEBHOOK}"
    server.shutdown()


def deliver(url, envelope):
    raw = samples.body(envelope)
    response = requests.post(url, data=raw, headers=signed_headers(raw), timeout=10)
    return response.status_code, response.json()["status"]


def run_worker(redis_url, **extra_env):
    """``relay worker --burst`` in its own process; returns its JSON log lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("SMS_BACKEND", "CRM_BACKEND")}
    env.update(REDIS_URL=redis_url, **extra_env)
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "worker", "--burst"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json_lines(result.stderr)


def sms_lines(lines):
    return [(line["sms_kind"], line["to"]) for line in lines if line.get("logger") == "relay.sms.console"]


def crm_lines(lines):
    return [line["status"] for line in lines if line.get("logger") == "relay.crm.log"]


def test_booking_then_cancellation(receiver, redis_url):
    booking = samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(days=1))
    assert deliver(receiver, samples.envelope("invitee.created", booking)) == (200, "accepted")
    lines = run_worker(redis_url, HOST_PHONE="+44 20 7946 0958")
    assert deliver(receiver, samples.envelope("invitee.canceled", samples.canceled(booking))) == (200, "accepted")
    lines += run_worker(redis_url, HOST_PHONE="+44 20 7946 0958")
    assert sms_lines(lines) == [("confirm", "+1404*****34"), ("host_notify", "+4420******58"),
                                ("cancel", "+1404*****34")]
    assert crm_lines(lines) == ["booked", "cancelled"]
    text = "\n".join(str(line) for line in lines)
    assert booking["email"] not in text and "+14045551234" not in text


def test_a_booking_cancelled_before_its_confirmation_went_out_gets_only_the_cancellation(receiver, redis_url):
    booking = samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(days=1))
    deliver(receiver, samples.envelope("invitee.created", booking))
    deliver(receiver, samples.envelope("invitee.canceled", samples.canceled(booking)))
    lines = run_worker(redis_url)  # both deliveries are applied before any SMS job runs
    assert sms_lines(lines) == [("cancel", "+1404*****34")]
    assert sorted(crm_lines(lines)) == ["booked", "cancelled"]


def test_identical_deliveries_in_parallel_send_one_confirmation(receiver, redis_url):
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(lambda _: deliver(receiver, envelope), range(10)))
    assert sorted(outcomes) == [(200, "accepted")] + [(200, "duplicate")] * 9
    assert sms_lines(run_worker(redis_url)) == [("confirm", "+1404*****34")]


def test_reschedule_halves_in_reverse_order(receiver, redis_url):
    old = samples.invitee_payload()
    new = samples.rescheduled(old, start=datetime.now(timezone.utc) + timedelta(days=3))
    deliver(receiver, samples.envelope("invitee.created", new))
    deliver(receiver, samples.envelope("invitee.canceled", samples.canceled(old, rescheduled_to=new["uri"])))
    lines = run_worker(redis_url)
    # The original booking's delivery, retried by Calendly much later (a retry keeps its
    # envelope's created_at, which is older than the reschedule).
    late = samples.envelope("invitee.created", old, created_at=datetime.now(timezone.utc) - timedelta(hours=1))
    deliver(receiver, late)
    lines += run_worker(redis_url)
    assert [kind for kind, _ in sms_lines(lines)] == ["reschedule"]
    assert crm_lines(lines) == ["rescheduled"]
