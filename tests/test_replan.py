"""Pending reminders follow configuration changes (worker/replan.py, worker/config_fingerprint.py,
``relay reminders replan``), in-process against a real Redis: bookings are applied through
the worker's real path under one configuration, then replanned under another."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from rq.job import Job

from shared import keys
from shared.booking import BookingStore
from shared.calendly import samples
from tests.helpers import console_messages, run_jobs
from tests.test_reminders import apply, fire, scheduled
from worker import context, replan
from worker.config_fingerprint import fingerprint, replan_if_changed, stored_fingerprint
from worker.providers import settings_from_env


def configure(monkeypatch, **variables):
    """The environment the worker (and the replan) read from now on."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    context.reset()
    return settings_from_env()


@pytest.fixture
def booking(conn):
    start = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    payload = samples.invitee_payload(start=start, duration=timedelta(minutes=30))
    apply(conn, "invitee.created", payload)
    return payload


def start_of(payload):
    return datetime.fromisoformat(payload["scheduled_event"]["start_time"])


def pending(conn, payload):
    """{job label: due time relative to the start} of the booking's pending jobs."""
    start = start_of(payload)
    return {job_id.rsplit("-", 1)[0]: due - start for job_id, due in scheduled(conn).items()
            if job_id.endswith(keys.digest(payload["uri"])[:32])}


BEFORE = {"reminder-86400": -timedelta(hours=24), "reminder-3600": -timedelta(hours=1),
          "followup-after": timedelta(minutes=60)}
"""REMINDER_OFFSETS=24h,1h and FOLLOWUP_DELAY=30m after a 30-minute meeting (the defaults)."""


@pytest.mark.parametrize("variables, relay_config, after, counts", [
    pytest.param({"REMINDER_OFFSETS": "2h,15m"}, None,
                 {"reminder-7200": -timedelta(hours=2), "reminder-900": -timedelta(minutes=15),
                  "followup-after": timedelta(minutes=60)}, (2, 2, 0), id="offsets changed"),
    pytest.param({"REMINDER_OFFSETS": "24h"}, None,
                 {"reminder-86400": -timedelta(hours=24), "followup-after": timedelta(minutes=60)}, (0, 1, 0),
                 id="an offset dropped"),
    pytest.param({"FOLLOWUP_DELAY": "2h"}, None,
                 {**BEFORE, "followup-after": timedelta(hours=2, minutes=30)}, (0, 0, 1), id="follow-up delay changed"),
    pytest.param({"FOLLOWUP_DELAY": "off"}, None,
                 {k: v for k, v in BEFORE.items() if k != "followup-after"}, (0, 1, 0), id="follow-up off"),
    pytest.param({}, 'event_types:\n  "30 Minute Meeting":\n    templates: {reminder: null}\n',
                 {"followup-after": timedelta(minutes=60)}, (0, 2, 0), id="event type's reminder template disabled"),
    pytest.param({}, 'event_types:\n  "30 Minute Meeting":\n    reminder_offsets: 3h\n    followup_delay: 1h\n',
                 {"reminder-10800": -timedelta(hours=3), "followup-after": timedelta(minutes=90)}, (1, 2, 1),
                 id="event type's offsets and delay"),
    pytest.param({"SMS_COUNTRIES": "GB"}, None, {}, (0, 3, 0), id="number no longer allowed"),
    pytest.param({"LOCALE": "de_DE"}, None, BEFORE, (0, 0, 0), id="rendering only: nothing moves"),
])
def test_pending_jobs_follow_the_configuration(conn, booking, monkeypatch, tmp_path, variables, relay_config,
                                               after, counts):
    assert pending(conn, booking) == BEFORE
    if relay_config:
        (tmp_path / "relay.yml").write_text(relay_config)
        variables = {**variables, "RELAY_CONFIG": str(tmp_path / "relay.yml")}
    summary = replan.replan_all(conn, configure(monkeypatch, **variables))
    assert pending(conn, booking) == after
    assert (summary.count(replan.ADDED), summary.count(replan.REMOVED), summary.count(replan.MOVED)) == counts
    assert summary.bookings == 1
    record = BookingStore(conn).load(booking["uri"])
    assert set(scheduled(conn)) <= set(record.reminder_jobs)  # a cancellation removes them all
    assert replan.replan_all(conn, settings_from_env()).changed == []  # a second run changes nothing


def test_a_cancelled_booking_after_replan_leaves_nothing_scheduled(conn, booking, monkeypatch):
    replan.replan_all(conn, configure(monkeypatch, REMINDER_OFFSETS="2h,15m"))
    apply(conn, "invitee.canceled", samples.canceled(booking))
    assert scheduled(conn) == {}


def test_booking_cancelled_during_replan_gets_nothing_planned(conn, booking, monkeypatch):
    """The cancellation is applied between the replan's read and its write: the transaction
    starts again, sees the booking cancelled, and plans nothing."""
    settings = configure(monkeypatch, REMINDER_OFFSETS="2h,15m")
    real_planned = replan.planned
    calls = []

    def planned_while_cancelled(record, settings, now):
        calls.append(record.status)
        if len(calls) == 1:
            apply(conn, "invitee.canceled", samples.canceled(booking))
        return real_planned(record, settings, now)

    monkeypatch.setattr(replan, "planned", planned_while_cancelled)
    summary = replan.replan_all(conn, settings)
    assert calls == ["active"]  # the second attempt stopped at the cancelled record
    assert summary.changed == []
    assert scheduled(conn) == {}
    assert BookingStore(conn).load(booking["uri"]).status == "canceled"


def test_a_reminder_already_sent_is_not_planned_again(conn, booking, monkeypatch, caplog):
    fire(conn, next(j for j in scheduled(conn) if j.startswith("reminder-86400-")))
    assert [m["kind"] for m in console_messages(caplog)].count("reminder") == 1
    summary = replan.replan_all(conn, configure(monkeypatch, REMINDER_OFFSETS="24h,2h"))
    assert [c.label for item in summary.changed for c in item.changes] == ["reminder-3600", "reminder-7200"]
    assert "reminder-86400" not in pending(conn, booking)
    run_jobs(conn)
    assert [m["kind"] for m in console_messages(caplog)].count("reminder") == 1


def test_a_job_already_due_is_left_to_the_scheduler(conn, booking, monkeypatch):
    job_id = next(j for j in scheduled(conn) if j.startswith("reminder-3600-"))
    due_now = int(time.time()) - 1
    conn.zadd("rq:scheduler:scheduled_jobs", {job_id: due_now})
    replan.replan_all(conn, configure(monkeypatch, REMINDER_OFFSETS="24h"))
    assert scheduled(conn)[job_id].timestamp() == due_now


def test_dry_run_changes_nothing_and_says_what_it_would(conn, booking, monkeypatch):
    before = (scheduled(conn), conn.get(keys.booking(booking["uri"])))
    summary = replan.replan_all(conn, configure(monkeypatch, REMINDER_OFFSETS="2h"), dry_run=True)
    assert (scheduled(conn), conn.get(keys.booking(booking["uri"]))) == before
    assert [(c.change, c.label) for c in summary.changed[0].changes] == [
        ("removed", "reminder-86400"), ("removed", "reminder-3600"), ("added", "reminder-7200")]
    assert summary.line().endswith("1 would change: 1 added, 2 removed, 0 moved")


def test_two_concurrent_replans_change_each_job_once(conn, redis_url, monkeypatch):
    start = datetime.now(timezone.utc) + timedelta(days=3)
    payloads = [samples.invitee_payload(start=start + timedelta(minutes=i)) for i in range(12)]
    for payload in payloads:
        apply(conn, "invitee.created", payload)
    settings = configure(monkeypatch, REMINDER_OFFSETS="2h,15m", FOLLOWUP_DELAY="1h")
    barrier, results = threading.Barrier(2), []

    def run():
        import redis

        client = redis.Redis.from_url(redis_url)
        barrier.wait()
        results.append(replan.replan_all(client, settings, batch_size=5))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    changes = [c for summary in results for item in summary.changed for c in item.changes]
    assert len(changes) == 12 * 5  # 2 added, 2 removed, 1 moved per booking: each done by one of the two
    assert all(summary.bookings == 12 for summary in results)
    assert len(scheduled(conn)) == 12 * 3
    for payload in payloads:
        assert set(pending(conn, payload)) == {"reminder-7200", "reminder-900", "followup-after"}


def test_bookings_are_replanned_in_batches_with_progress_in_the_log(conn, monkeypatch, caplog):
    start = datetime.now(timezone.utc) + timedelta(days=3)
    for i in range(7):
        apply(conn, "invitee.created", samples.invitee_payload(start=start))  # one score: paging by score holds
    past = samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(minutes=30))
    apply(conn, "invitee.created", past)
    caplog.set_level("INFO", logger="relay.replan")
    caplog.clear()
    batches = []
    summary = replan.replan_all(conn, configure(monkeypatch, REMINDER_OFFSETS="2h"), batch_size=3,
                                after_batch=lambda: batches.append(1),
                                now=datetime.now(timezone.utc) + timedelta(hours=1))
    assert summary.bookings == 7 and len(batches) == 3
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("replan progress")]
    assert progress == ["replan progress: 3/7 booking(s), 3 changed", "replan progress: 6/7 booking(s), 6 changed",
                        "replan progress: 7/7 booking(s), 7 changed"]
    assert "Jane" not in caplog.text and "+1" not in caplog.text and "invitees/" not in caplog.text


def test_fingerprint_first_start_replans_then_only_on_change(conn, booking, monkeypatch):
    settings = configure(monkeypatch)
    assert stored_fingerprint(conn) is None
    first = replan_if_changed(conn, settings)
    assert first is not None and first.changed == []  # planned under this configuration already
    assert stored_fingerprint(conn) == fingerprint(settings)
    assert replan_if_changed(conn, settings) is None
    changed = configure(monkeypatch, REMINDER_OFFSETS="3h")
    assert fingerprint(changed) != fingerprint(settings)
    summary = replan_if_changed(conn, changed)
    assert set(pending(conn, booking)) == {"reminder-10800", "followup-after"} and len(summary.changed) == 1
    assert stored_fingerprint(conn) == fingerprint(changed)


def test_fingerprint_is_canonical_and_ignores_what_does_not_plan(monkeypatch):
    base = fingerprint(configure(monkeypatch, REMINDER_OFFSETS="24h,1h"))
    assert fingerprint(configure(monkeypatch, REMINDER_OFFSETS="1h, 24h")) == base  # same offsets, other spelling
    assert fingerprint(configure(monkeypatch, HOST_PHONE="+14045550000", PORT="9000")) == base
    assert fingerprint(configure(monkeypatch, TEMPLATE_ID_REMINDER="77")) != base


def test_two_schedulers_starting_together_replan_once(conn, booking, redis_url, monkeypatch):
    settings = configure(monkeypatch, REMINDER_OFFSETS="2h")
    barrier, results = threading.Barrier(2), []

    def start():
        import redis

        client = redis.Redis.from_url(redis_url)
        barrier.wait()
        results.append(replan_if_changed(client, settings))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    replanned = [summary for summary in results if summary is not None]
    assert len(replanned) == 1 and len(replanned[0].changed) == 1
    assert set(pending(conn, booking)) == {"reminder-7200", "followup-after"}
    assert not conn.exists(keys.CONFIG_REPLAN_LOCK)


def test_cli_replan_dry_run_then_for_real(conn, booking, redis_url, monkeypatch, capsys):
    from worker.cli import main

    configure(monkeypatch, REDIS_URL=redis_url, REMINDER_OFFSETS="2h", FOLLOWUP_DELAY="45m")
    digest = keys.digest(booking["uri"])[:16]
    assert main(["reminders", "replan", "--dry-run"]) == 0
    out = capsys.readouterr().out
    words = " ".join(out.split())  # the labels are padded into columns
    start = start_of(booking)
    assert f"booking {digest}" in out
    assert f"+ reminder-7200 at {start - timedelta(hours=2):%Y-%m-%d %H:%M:%S} UTC" in words
    assert f"- reminder-86400 was {start - timedelta(hours=24):%Y-%m-%d %H:%M:%S} UTC" in words
    assert (f"~ followup-after {start + timedelta(minutes=60):%Y-%m-%d %H:%M:%S} UTC -> "
            f"{start + timedelta(minutes=75):%Y-%m-%d %H:%M:%S} UTC") in words
    assert out.strip().endswith("1 would change: 1 added, 2 removed, 1 moved (dry run: nothing was changed)")
    assert set(pending(conn, booking)) == set(BEFORE) and stored_fingerprint(conn) is None
    assert main(["reminders", "replan"]) == 0
    assert capsys.readouterr().out.strip().endswith("1 changed: 1 added, 2 removed, 1 moved")
    assert set(pending(conn, booking)) == {"reminder-7200", "followup-after"}
    assert stored_fingerprint(conn) == fingerprint(settings_from_env())
    assert main(["reminders", "replan"]) == 0
    assert "0 changed: 0 added, 0 removed, 0 moved" in capsys.readouterr().out
    assert all(Job.fetch(j, connection=conn).get_status() == "scheduled" for j in scheduled(conn))


def test_quiet_hours_switched_on_move_a_pending_reminder_and_off_move_it_back(conn, monkeypatch):
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    day = (datetime.now(berlin) + timedelta(days=3)).date()
    start = datetime(day.year, day.month, day.day, 8, 30, tzinfo=berlin).astimezone(timezone.utc)
    payload = samples.invitee_payload(start=start, tz="Europe/Berlin")
    apply(conn, "invitee.created", payload)  # planned without quiet hours (tests' default)
    assert pending(conn, payload)["reminder-3600"] == -timedelta(hours=1)  # 07:30 in Berlin
    summary = replan.replan_all(conn, configure(monkeypatch, QUIET_HOURS="21:00-08:00"))
    assert [(c.change, c.label) for c in summary.changed[0].changes] == [("moved", "reminder-3600")]
    assert pending(conn, payload)["reminder-3600"] == -timedelta(minutes=30)  # the window's end, 08:00
    assert replan.replan_all(conn, settings_from_env()).changed == []
    replan.replan_all(conn, configure(monkeypatch, QUIET_HOURS="off"))
    assert pending(conn, payload)["reminder-3600"] == -timedelta(hours=1)


def test_a_booking_that_keeps_changing_is_left_for_the_next_replan(conn, booking, monkeypatch):
    settings = configure(monkeypatch, REMINDER_OFFSETS="2h")
    real_planned = replan.planned
    key = keys.booking(booking["uri"])

    def planned_while_touched(record, settings, now):
        conn.set(key, conn.get(key), keepttl=True)  # another writer, every time
        return real_planned(record, settings, now)

    monkeypatch.setattr(replan, "planned", planned_while_touched)
    summary = replan_if_changed(conn, settings)
    assert summary.busy == 1 and not summary.complete and summary.changed == []
    assert summary.line().endswith("1 busy (left for the next replan)")
    assert stored_fingerprint(conn) is None  # so the next start replans again
    assert set(pending(conn, booking)) == set(BEFORE)
    monkeypatch.setattr(replan, "planned", real_planned)
    assert len(replan_if_changed(conn, settings).changed) == 1
    assert stored_fingerprint(conn) == fingerprint(settings)
