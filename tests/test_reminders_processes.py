"""Reminders through real processes: ``relay worker`` and ``relay scheduler`` (rq-scheduler)
against a real Redis, sending to a local fake EngageLab over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rq import Queue

from shared import defaults
from shared.calendly import samples
from tests.helpers import free_port, wait_until

BIN = Path(sys.executable).parent
TEMPLATES = {"TEMPLATE_ID_CONFIRM": "101", "TEMPLATE_ID_CANCEL": "102", "TEMPLATE_ID_REMINDER": "104",
             "TEMPLATE_ID_FOLLOWUP": "105"}


@pytest.fixture
def env(redis_url, engagelab, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPLATE_ID_", "CALENDLY_", "REDIS_URL"))}
    base.update(TEMPLATES)
    base.update(
        REDIS_URL=redis_url, SMS_BACKEND="engagelab", ENGAGELAB_DEV_KEY="dev-key", ENGAGELAB_DEV_SECRET="dev-secret",
        ENGAGELAB_API_URL=engagelab.url, CRM_BACKEND="off", REMINDER_OFFSETS="4s", FOLLOWUP_DELAY="1s",
        SCHEDULER_INTERVAL="0.2", PYTHONUNBUFFERED="1",
        PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
    )
    return base


@contextmanager
def process(command, env, log_path):
    with open(log_path, "a") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def book(conn, start_in: float, duration: float = 2.0):
    payload = samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(seconds=start_in),
                                      duration=timedelta(seconds=duration))
    enqueue(conn, "invitee.created", payload)
    return payload


def enqueue(conn, event, payload):
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
        defaults.PROCESS_EVENT_FUNC, samples.envelope(event, payload), None)


def due(payload, offset_seconds):
    return datetime.fromisoformat(payload["scheduled_event"]["start_time"]).timestamp() - offset_seconds


def kinds(engagelab, to="+14045551234"):
    return [m["template"] for m in engagelab.messages() if m["to"] == to]


def test_procfile_processes_send_confirmation_reminder_follow_up_and_nothing_after_cancel(env, engagelab, tmp_path):
    port = free_port()
    env = dict(env, PORT=str(port), CALENDLY_WEBHOOK_SIGNING_KEY="procfile-test-key")
    with process([str(BIN / "relay"), "dev"], env, tmp_path / "dev.log"):
        wait_until(lambda: _post_ok(port), timeout=60, what="the receiver")
        simulate = [str(BIN / "relay"), "simulate", "--url", f"http://127.0.0.1:{port}/webhooks/calendly"]
        kept = subprocess.run(simulate + ["invitee.created", "--start-in", "8s", "--duration", "2s",
                                          "--phone", "+1 404-555-1234"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert kept.returncode == 0, kept.stdout + kept.stderr
        booked_at = time.time()
        wait_until(lambda: "101" in kinds(engagelab), timeout=10, what="the confirmation")
        assert time.time() - booked_at < 5
        # A second booking, cancelled at once: confirmation and cancellation, no reminder.
        subprocess.run(simulate + ["invitee.created", "--start-in", "8s", "--phone", "+44 7911 123456"],
                       env=env, cwd=tmp_path, check=True, capture_output=True, timeout=60)
        subprocess.run(simulate + ["invitee.canceled"], env=env, cwd=tmp_path, check=True, capture_output=True,
                       timeout=60)
        wait_until(lambda: "105" in kinds(engagelab), timeout=30, what="the follow-up")
        time.sleep(1.5)
    assert kinds(engagelab) == ["101", "104", "105"]
    [reminder] = [m for m in engagelab.messages() if m["template"] == "104"]
    assert reminder["params"]["advance"] == "4 seconds"
    assert set(reminder["params"]) == {"name", "time", "advance"}
    assert kinds(engagelab, "+447911123456") == ["101", "102"]
    reminder_request = next(r for r in engagelab.received("/v1/messages") if r["body"]["template"]["id"] == "104")
    assert reminder_request["at"] >= booked_at + 8 - 4 - 1.5  # not early (the due time is whole seconds)


def _post_ok(port):
    import requests

    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_restarting_scheduler_and_worker_before_the_due_time_loses_nothing(env, engagelab, conn, tmp_path):
    log = tmp_path / "processes.log"
    with process([str(BIN / "relay"), "worker"], env, log), process([str(BIN / "relay"), "scheduler"], env, log):
        payload = book(conn, start_in=9)
        wait_until(lambda: kinds(engagelab) == ["101"], timeout=15, what="the confirmation")
    # Both processes are gone now; the reminder falls due while nothing runs.
    reminder_due = due(payload, 4)
    time.sleep(max(0.0, reminder_due - time.time()) + 1)
    assert kinds(engagelab) == ["101"]
    with process([str(BIN / "relay"), "worker"], env, log), process([str(BIN / "relay"), "scheduler"], env, log):
        wait_until(lambda: kinds(engagelab) == ["101", "104", "105"], timeout=30, what="reminder and follow-up")
        time.sleep(1)
    assert kinds(engagelab) == ["101", "104", "105"]


def test_sigterm_lets_the_job_in_flight_finish(env, engagelab, conn, tmp_path):
    """A deploy stops the worker while EngageLab is answering slowly: the SMS in flight
    is still sent and recorded, not dropped or left to be sent again."""
    engagelab.delay = 2.0
    env = dict(env, REMINDER_OFFSETS="off", FOLLOWUP_DELAY="off")
    worker = subprocess.Popen([str(BIN / "relay"), "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        book(conn, start_in=3600)
        wait_until(lambda: conn.exists("relay:sent:" + _any_sms_key(conn)), timeout=20,
                   what="the send to start")
        worker.send_signal(signal.SIGTERM)  # mid-call: EngageLab has not answered yet
        assert worker.wait(timeout=30) == 0
    finally:
        stop(worker)
    assert kinds(engagelab) == ["101"]
    [key] = conn.keys("relay:sent:*")
    assert conn.get(key).startswith(b"sent:")  # recorded as sent: a later run will not repeat it


def _any_sms_key(conn):
    from rq.job import Job

    from shared import keys

    for job_key in conn.keys("rq:job:sms-*"):
        data = Job.fetch(job_key.decode().split(":")[-1], connection=conn).args[0]
        return keys.digest(data["key"])
    return "none"


def test_a_reminder_moved_out_of_quiet_hours_fires_at_the_moved_time_with_its_real_lead(env, engagelab, conn, tmp_path):
    """Quiet hours end at E (a whole minute of the invitee's clock: windows are HH:MM); the
    meeting starts 45 s later; its 1 min reminder, due 15 s before E, is moved to E by the
    worker and released there by the real scheduler, saying "45 seconds"."""
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    ends = (datetime.now(timezone.utc) + timedelta(seconds=20) + timedelta(minutes=1)).replace(second=0, microsecond=0)
    window = f"{(ends - timedelta(hours=2)).astimezone(new_york):%H:%M}-{ends.astimezone(new_york):%H:%M}"
    env = dict(env, QUIET_HOURS=window, QUIET_MIN_LEAD="30s", REMINDER_OFFSETS="1m", FOLLOWUP_DELAY="off")
    log = tmp_path / "processes.log"
    with process([str(BIN / "relay"), "worker"], env, log), process([str(BIN / "relay"), "scheduler"], env, log):
        payload = samples.invitee_payload(start=ends + timedelta(seconds=45), tz="America/New_York")
        enqueue(conn, "invitee.created", payload)
        wait_until(lambda: kinds(engagelab) == ["101"], timeout=15, what="the confirmation")
        wait_until(lambda: kinds(engagelab) == ["101", "104"], timeout=120, what="the moved reminder")
    [reminder] = [r for r in engagelab.received("/v1/messages") if r["body"]["template"]["id"] == "104"]
    assert ends.timestamp() <= reminder["at"] < ends.timestamp() + 5  # at the window's end, not 15 s before it
    assert reminder["body"]["template"]["params"]["advance"] == "45 seconds"
