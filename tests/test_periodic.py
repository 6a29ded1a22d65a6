"""What the scheduler runs on its own: the hourly subscription check and reconciliation;
and `relay backfill` as an operator runs it."""

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rq import Queue
from rq_scheduler import Scheduler

from shared import defaults
from shared.calendly import samples
from worker.maintenance import PERIODIC_RECONCILE, PERIODIC_WEBHOOK_CHECK, register_periodic_jobs
from shared.settings import Settings
from tests.fakes import FakeCalendly
from tests.helpers import run_jobs
from worker import context
from shared import keys

HOOK = "https://relay.example.com/webhooks/calendly"
BIN = Path(sys.executable).parent


@pytest.fixture
def calendly():
    with FakeCalendly() as fake:
        yield fake


@pytest.fixture
def calendly_env(monkeypatch, calendly):
    monkeypatch.setenv("CALENDLY_ACCESS_TOKEN", FakeCalendly.TOKEN)
    monkeypatch.setenv("CALENDLY_API_URL", calendly.url)
    monkeypatch.setenv("RELAY_WEBHOOK_URL", HOOK)
    context.reset()


def test_periodic_jobs_are_registered_once_with_fixed_ids(conn):
    settings = Settings(calendly_access_token="t", webhook_url=HOOK)
    scheduler = Scheduler(connection=conn)
    assert register_periodic_jobs(scheduler, settings) == [PERIODIC_WEBHOOK_CHECK, PERIODIC_RECONCILE]
    register_periodic_jobs(scheduler, settings)  # a restart, or a second scheduler
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {PERIODIC_WEBHOOK_CHECK, PERIODIC_RECONCILE}
    assert jobs[PERIODIC_WEBHOOK_CHECK].meta["interval"] == 3600
    assert jobs[PERIODIC_RECONCILE].meta["interval"] == 900
    register_periodic_jobs(scheduler, Settings(calendly_access_token="t", webhook_url=HOOK, reconcile_interval=None))
    assert [job.id for job in scheduler.get_jobs()] == [PERIODIC_WEBHOOK_CHECK]
    assert register_periodic_jobs(scheduler, Settings()) == []
    assert list(scheduler.get_jobs()) == []


def run_periodic(conn, func):
    job = Queue(defaults.MAINTENANCE_QUEUE, connection=conn).enqueue(func)
    run_jobs(conn)
    return job.return_value()


def test_a_disabled_subscription_is_reported(conn, calendly, calendly_env, caplog):
    calendly.subscriptions["s1"] = {"uri": f"{calendly.url}/webhook_subscriptions/s1", "callback_url": HOOK,
                                    "events": ["invitee.created"], "scope": "organization", "state": "disabled",
                                    "organization": calendly.organization,
                                    "retry_started_at": "2026-11-20T10:00:00.000000Z"}
    result = run_periodic(conn, "worker.jobs.check_webhooks")
    assert result["status"] == "disabled"
    assert conn.hget(keys.WEBHOOK_STATE, "state") == b"disabled"
    assert any(r.levelname == "ERROR" and "relay webhooks check --repair" in r.getMessage() for r in caplog.records)
    calendly.subscriptions["s1"]["state"] = "active"
    calendly.subscriptions["s1"]["retry_started_at"] = None
    assert run_periodic(conn, "worker.jobs.check_webhooks")["status"] == "ok"


def test_the_hourly_check_reports_problems_and_what_each_feature_may_do(conn, calendly, calendly_env, caplog,
                                                                        monkeypatch):
    from shared.calendly import features

    for url in (HOOK, HOOK + "/"):
        ident = f"s-{len(calendly.subscriptions)}"
        calendly.subscriptions[ident] = {"uri": f"{calendly.url}/webhook_subscriptions/{ident}", "callback_url": url,
                                         "events": ["invitee.created"], "scope": "organization", "state": "active",
                                         "organization": calendly.organization, "retry_started_at": None}
    result = run_periodic(conn, "worker.jobs.check_webhooks")
    assert result["status"] == "ok" and len(result["problems"]) == 2
    assert any("2 subscriptions deliver" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert any("lacks invitee.canceled" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    stored = {item["feature"].name: item["outcome"] for item in features.recorded(conn)}
    assert stored["subscriptions"] == "ok" and stored["rebook_links"] == "ok"


def test_reconciliation_job_runs(conn, calendly, calendly_env):
    calendly.add_booking(samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(hours=5)))
    assert run_periodic(conn, "worker.jobs.reconcile_bookings") == {"status": "done", "applied": 1, "skipped": []}


def test_reconciliation_fails_visibly_on_a_booking_it_cannot_use_after_applying_the_rest(conn, calendly,
                                                                                        calendly_env):
    from rq.job import Job

    from shared import stats
    from shared.operations import failures

    soon = datetime.now(timezone.utc) + timedelta(hours=5)
    good = calendly.add_booking(samples.invitee_payload(start=soon))
    bad = calendly.add_booking(samples.invitee_payload(start=soon + timedelta(minutes=30)))
    bad["timezone"] = "x" * 10_001  # an identifier, not free text: not cut, unusable
    job = Queue(defaults.MAINTENANCE_QUEUE, connection=conn).enqueue("worker.jobs.reconcile_bookings")
    run_jobs(conn)
    assert Job.fetch(job.id, connection=conn).get_status() == "failed"
    [failure] = failures(conn)
    assert "UnusableBookings: 1 booking(s)" in failure.reason and "payload.timezone" in failure.reason
    assert stats.read(conn, "deliveries_unusable") == {("payload.timezone",): 1}
    from shared.booking import BookingStore

    assert BookingStore(conn).load(good["uri"]).status == "active"  # the rest was applied
    assert BookingStore(conn).load(bad["uri"]) is None


def test_relay_backfill_shows_progress(calendly, redis_url):
    for i in range(26):
        calendly.add_booking(samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(days=2, minutes=i)))
    env = dict(os.environ, CALENDLY_ACCESS_TOKEN=FakeCalendly.TOKEN, CALENDLY_API_URL=calendly.url,
               REDIS_URL=redis_url)
    today = datetime.now(timezone.utc).date()
    args = [str(BIN / "relay"), "backfill", "--from", str(today), "--to", str(today + timedelta(days=5))]
    dry = subprocess.run(args + ["--dry-run"], env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "(dry run)" in dry.stdout and "26 invitees: 26 applied" in dry.stdout
    real = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert "25 invitees" in real.stdout and "26 invitees: 26 applied" in real.stdout
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert "26 invitees: 0 applied, 26 already known" in again.stdout
    bad = subprocess.run([str(BIN / "relay"), "backfill", "--from", "tomorrow"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--from must be a date" in bad.stderr
