"""Reminders and follow-ups in rq-scheduler, in-process against a real Redis: scheduling,
cancellation, the re-check when they fire, retries."""

import time
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq_scheduler import Scheduler

from shared import keys
from shared import defaults
from shared import ledger, stats
from shared.booking import BookingStore
from shared.calendly import samples
from tests.helpers import console_messages, run_jobs
from worker import context
from worker.provider_errors import PermanentError, TransientError
from worker.scheduling import BatchScheduler


def scheduled(conn):
    """{job id: due time} of everything in rq-scheduler's set."""
    return {k.decode(): datetime.fromtimestamp(v, timezone.utc)
            for k, v in conn.zrange(Scheduler.scheduled_jobs_key, 0, -1, withscores=True)}


def apply(conn, event, payload, **envelope_options):
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
        defaults.PROCESS_EVENT_FUNC, samples.envelope(event, payload, **envelope_options), None)
    run_jobs(conn)


def fire(conn, job_id):
    """Make a scheduled job due now and let the scheduler and a worker run it."""
    conn.zadd(Scheduler.scheduled_jobs_key, {job_id: int(time.time()) - 1})
    BatchScheduler(connection=conn).enqueue_jobs()
    run_jobs(conn)
    return Job.fetch(job_id, connection=conn)


@pytest.fixture
def booking():
    start = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    return samples.invitee_payload(start=start, duration=timedelta(minutes=30))


def test_booking_schedules_reminders_and_follow_up(conn, booking, caplog):
    apply(conn, "invitee.created", booking)
    start = datetime.fromisoformat(booking["scheduled_event"]["start_time"])
    due = scheduled(conn)
    assert sorted(due.values()) == [start - timedelta(hours=24), start - timedelta(hours=1),
                                    start + timedelta(minutes=60)]
    record = BookingStore(conn).load(booking["uri"])
    assert set(record.reminder_jobs) == set(due)
    for job_id in due:
        job = Job.fetch(job_id, connection=conn)
        assert job.origin == defaults.REMINDERS_QUEUE and job.get_status() == "scheduled"


def test_scheduling_the_same_booking_twice_leaves_one_job_each(conn, booking):
    apply(conn, "invitee.created", booking)
    first = scheduled(conn)
    conn.delete(*conn.keys("relay:booking:*"))  # forget the record: the booking is applied afresh
    apply(conn, "invitee.created", booking)
    assert scheduled(conn) == first


def test_offsets_already_past_are_skipped(conn):
    booking = samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(hours=3))
    apply(conn, "invitee.created", booking)
    assert len(scheduled(conn)) == 2  # the 1 h reminder and the follow-up; 24 h is past
    assert stats.read(conn, "sms")[("reminder", "skipped", "already_past")] == 1


@pytest.mark.parametrize("event, make", [
    ("invitee.canceled", lambda p: samples.canceled(p)),
    ("invitee.canceled", lambda p: samples.canceled(p, rescheduled_to=p["uri"] + "-new")),
])
def test_cancellation_and_reschedule_remove_jobs_and_their_data(conn, booking, event, make):
    apply(conn, "invitee.created", booking)
    job_ids = list(scheduled(conn))
    apply(conn, event, make(booking))
    assert scheduled(conn) == {}
    assert all(not conn.exists(Job.key_for(job_id)) for job_id in job_ids)
    assert BookingStore(conn).load(booking["uri"]).reminder_jobs == ()


def test_the_created_half_of_a_reschedule_moves_the_reminders(conn, booking):
    apply(conn, "invitee.created", booking)
    old_jobs = set(scheduled(conn))
    new = samples.rescheduled(booking, start=datetime.now(timezone.utc) + timedelta(days=5))
    apply(conn, "invitee.created", new)
    now_scheduled = set(scheduled(conn))
    assert not (old_jobs & now_scheduled)
    assert now_scheduled == set(BookingStore(conn).load(new["uri"]).reminder_jobs)


def test_no_show_removes_the_follow_up(conn, booking):
    apply(conn, "invitee.created", booking)
    apply(conn, "invitee_no_show.created", samples.no_show_marked(booking),
          created_at=datetime.now(timezone.utc) + timedelta(seconds=1))
    assert scheduled(conn) == {}


def test_a_reminder_fires_with_its_params(conn, booking, caplog):
    apply(conn, "invitee.created", booking)
    reminder_24h = next(j for j in scheduled(conn) if j.startswith("reminder-86400-"))
    job = fire(conn, reminder_24h)
    assert job.return_value()["status"] == "sent"
    reminder = [m for m in console_messages(caplog) if m["kind"] == "reminder"]
    assert len(reminder) == 1
    assert reminder[0]["params"]["advance"] == "24 hours"
    assert reminder[0]["params"]["name"] == "Jane Doe" and reminder[0]["params"]["time"]


def test_a_reminder_fired_twice_sends_once(conn, booking, caplog):
    apply(conn, "invitee.created", booking)
    job_id = next(j for j in scheduled(conn) if j.startswith("reminder-3600-"))
    fire(conn, job_id)
    job = Job.fetch(job_id, connection=conn)
    Queue(defaults.REMINDERS_QUEUE, connection=conn).enqueue_job(job)  # a duplicated scheduler pass
    run_jobs(conn)
    assert [m["kind"] for m in console_messages(caplog)].count("reminder") == 1


def test_a_reminder_already_queued_when_the_booking_is_cancelled_is_not_sent(conn, booking, caplog):
    apply(conn, "invitee.created", booking)
    job_id = next(j for j in scheduled(conn) if j.startswith("reminder-3600-"))
    conn.zadd(Scheduler.scheduled_jobs_key, {job_id: int(time.time()) - 1})
    BatchScheduler(connection=conn).enqueue_jobs()  # moved to the queue, not yet run...
    job = Job.fetch(job_id, connection=conn)
    store = BookingStore(conn)
    record = store.load(booking["uri"])
    store.save(record.evolve(status="canceled"), datetime.now(timezone.utc))  # ...then cancelled
    run_jobs(conn)
    assert job.return_value()["reason"] == "booking_canceled"
    assert "reminder" not in [m["kind"] for m in console_messages(caplog)]
    assert stats.read(conn, "sms")[("reminder", "skipped", "booking_canceled")] == 1


def test_a_reminder_for_a_meeting_that_moved_or_started_is_not_sent(conn, booking):
    apply(conn, "invitee.created", booking)
    job_id = next(j for j in scheduled(conn) if j.startswith("reminder-3600-"))
    data = Job.fetch(job_id, connection=conn).args[0]
    store = BookingStore(conn)
    record = store.load(booking["uri"])
    now = datetime.now(timezone.utc)
    store.save(record.evolve(start=record.start + timedelta(hours=2)), now)
    assert fire(conn, job_id).return_value()["reason"] == "start_moved"
    started = now - timedelta(minutes=1)
    store.save(record.evolve(start=started), now)
    late = Queue(defaults.REMINDERS_QUEUE, connection=conn).enqueue(
        "worker.jobs.send_reminder", dict(data, start=int(started.timestamp())))
    run_jobs(conn)
    assert late.return_value()["reason"] == "too_late"


def test_unset_template_disables_a_message_with_engagelab(conn, booking, monkeypatch):
    monkeypatch.setenv("ENGAGELAB_DEV_KEY", "k")
    monkeypatch.setenv("ENGAGELAB_DEV_SECRET", "s")
    monkeypatch.setenv("TEMPLATE_ID_REMINDER", "77")
    context.reset()
    apply(conn, "invitee.created", booking)
    assert sorted(j.split("-")[0] for j in scheduled(conn)) == ["reminder", "reminder"]
    skipped = stats.read(conn, "sms")
    assert skipped[("confirm", "skipped", "template_disabled")] == 1
    assert skipped[("host_notify", "skipped", "template_disabled")] == 1
    assert skipped[("followup", "skipped", "template_disabled")] == 1


def test_per_event_type_overrides_from_relay_config(conn, booking, tmp_path, monkeypatch):
    config = tmp_path / "relay.yml"
    config.write_text('event_types:\n  "30 minute meeting":\n    reminder_offsets: 2h\n    followup_delay: "off"\n')
    monkeypatch.setenv("RELAY_CONFIG", str(config))
    context.reset()
    apply(conn, "invitee.created", booking)
    start = datetime.fromisoformat(booking["scheduled_event"]["start_time"])
    assert list(scheduled(conn).values()) == [start - timedelta(hours=2)]


def failing_backend(monkeypatch, error):
    from worker.sms.console import ConsoleSmsBackend

    def send(self, message):
        raise error

    monkeypatch.setattr(ConsoleSmsBackend, "send", send)


def test_transient_failure_schedules_a_retry_with_backoff(conn, booking, monkeypatch):
    failing_backend(monkeypatch, TransientError("engagelab", "busy", status=503, retry_after=300))
    apply(conn, "invitee.created", booking)
    [confirm_job] = [k.decode().split(":")[-1] for k in conn.keys("rq:job:sms-*") if b"retry" not in k]
    result = Job.fetch(confirm_job, connection=conn).return_value()
    assert result["status"] == "retry_scheduled" and result["attempt"] == 1 and result["delay"] == 300
    retry_id = f"{confirm_job}-retry1"
    assert abs((scheduled(conn)[retry_id] - datetime.now(timezone.utc)).total_seconds() - 300) < 5
    assert Job.fetch(retry_id, connection=conn).args[0]["attempt"] == 1
    monkeypatch.undo()
    retry = fire(conn, retry_id)
    assert retry.return_value()["status"] == "sent"


def test_retries_give_up_after_the_last_attempt(conn, booking, monkeypatch):
    failing_backend(monkeypatch, TransientError("engagelab", "still down", status=503))
    apply(conn, "invitee.created", booking)
    [confirm_job] = [k.decode().split(":")[-1] for k in conn.keys("rq:job:sms-*") if b"retry" not in k]
    data = Job.fetch(confirm_job, connection=conn).args[0]
    Queue(defaults.SMS_QUEUE, connection=conn).enqueue(
        "worker.jobs.send_sms", dict(data, attempt=defaults.RETRY_MAX_ATTEMPTS), job_id=confirm_job)
    run_jobs(conn)
    assert confirm_job in FailedJobRegistry(defaults.SMS_QUEUE, connection=conn).get_job_ids()
    assert "RetriesExhausted" in Job.fetch(confirm_job, connection=conn).latest_result().exc_string
    message = ledger.load(conn, ledger.message_id(data["key"]))
    assert (message.state, message.reason) == ("failed", "retries_exhausted")


def test_permanent_failure_fails_at_once_with_the_reason(conn, booking, monkeypatch):
    failing_backend(monkeypatch, PermanentError("engagelab", "template not found", code=4001, status=400))
    apply(conn, "invitee.created", booking)
    failed = FailedJobRegistry(defaults.SMS_QUEUE, connection=conn).get_job_ids()
    assert len(failed) == 1
    job = Job.fetch(failed[0], connection=conn)
    assert job.meta["failure"] == {"provider": "engagelab", "code": 4001, "message": "template not found"}
    assert "4001" in job.latest_result().exc_string
    assert not [j for j in scheduled(conn) if "retry" in j]
    assert not conn.exists(keys.sent(job.args[0]["key"]))  # released: a replay after a fix sends


def test_reschedule_notice_falls_back_to_the_confirmation_template(conn, booking, monkeypatch):
    monkeypatch.setenv("ENGAGELAB_DEV_KEY", "k")
    monkeypatch.setenv("ENGAGELAB_DEV_SECRET", "s")
    monkeypatch.setenv("TEMPLATE_ID_CONFIRM", "101")
    context.reset()
    from worker.sms.engagelab import EngageLabSmsBackend

    sent = []
    monkeypatch.setattr(EngageLabSmsBackend, "send", lambda self, m: sent.append((m.kind, m.template_id)) or "id")
    new = samples.rescheduled(booking, start=datetime.now(timezone.utc) + timedelta(days=4))
    apply(conn, "invitee.created", new)
    assert sent == [("confirm", "101")]
    monkeypatch.setenv("TEMPLATE_ID_RESCHEDULE", "103")
    context.reset()
    newer = samples.rescheduled(new, start=datetime.now(timezone.utc) + timedelta(days=5))
    apply(conn, "invitee.created", newer)
    assert sent[-1] == ("reschedule", "103")


def test_an_infinite_reset_header_still_gives_a_finite_retry(conn, booking, monkeypatch):
    failing_backend(monkeypatch, TransientError("engagelab", "busy", status=429, retry_after=float("inf")))
    apply(conn, "invitee.created", booking)
    [confirm_job] = [k.decode().split(":")[-1] for k in conn.keys("rq:job:sms-*") if b"retry" not in k]
    result = Job.fetch(confirm_job, connection=conn).return_value()
    assert result["status"] == "retry_scheduled" and result["delay"] <= 24 * 3600


def test_a_message_leased_by_a_dead_worker_is_retried_not_failed(conn, booking):
    from worker import idempotency

    apply(conn, "invitee.created", booking)
    sms_id = next(k.decode().split(":")[-1] for k in conn.keys("rq:job:sms-*"))
    data = Job.fetch(sms_id, connection=conn).args[0]
    conn.delete(keys.sent(data["key"]))
    assert idempotency.claim(conn, data["key"])  # a worker took the lease, then died
    job = Queue(defaults.SMS_QUEUE, connection=conn).enqueue("worker.jobs.send_sms", data)
    run_jobs(conn)
    assert job.return_value()["status"] == "retry_scheduled"


def test_the_batch_scheduler_releases_many_due_jobs_and_keeps_periodic_ones_repeating(conn):
    from worker.scheduling import BATCH_SIZE, schedule

    due = datetime.now(timezone.utc) - timedelta(seconds=1)
    with conn.pipeline() as pipe:
        for i in range(BATCH_SIZE + 50):
            schedule(pipe, conn, due, "worker.jobs.send_reminder", {"kind": "reminder", "i": i}, f"reminder-{i}")
        pipe.execute()
    scheduler = BatchScheduler(connection=conn)
    scheduler.schedule(due, "worker.jobs.check_webhooks", interval=3600, id="periodic-x",
                       queue_name=defaults.MAINTENANCE_QUEUE)
    conn.zadd(Scheduler.scheduled_jobs_key, {"dangling": 0})  # its job data was deleted
    released = scheduler.enqueue_jobs()
    assert len(released) == BATCH_SIZE + 51
    assert Queue(defaults.REMINDERS_QUEUE, connection=conn).count == BATCH_SIZE + 50
    assert Job.fetch("reminder-0", connection=conn).get_status() == "queued"
    assert Queue(defaults.MAINTENANCE_QUEUE, connection=conn).count == 1
    assert list(scheduled(conn)) == ["periodic-x"]  # rescheduled an interval later
    assert scheduled(conn)["periodic-x"] > datetime.now(timezone.utc) + timedelta(minutes=59)


def test_a_provider_saying_retry_now_cannot_burn_every_attempt_in_seconds():
    from worker.retry import paced_delay

    # Retry-After: 0 on every answer: the twelve attempts still span more than an hour.
    assert sum(paced_delay(attempt) for attempt in range(1, 13)) > 3600
    assert paced_delay(1) == 1.0 and paced_delay(3) == 4.0
