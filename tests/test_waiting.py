"""A notice waits for its own booking's deliveries still in the queue (shared/waiting.py),
through the receiver, the worker's queue order and a real Redis."""

from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.job import Job
from rq_scheduler import Scheduler

from shared import defaults, keys, ledger, waiting
from shared.calendly import samples
from tests.helpers import console_messages, post_delivery, run_jobs
from worker.payloads import SEND_SMS_FUNC, SmsPayload


def booking(days=2, **options):
    return samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(days=days), **options)


def waiting_ids(conn, uri):
    return {member.decode() for member in conn.smembers(keys.waiting_deliveries(uri))}


def waits_scheduled(conn):
    """The notices put off, by job id: when each runs again (reminders left out)."""
    return {job_id.decode(): score for job_id, score in conn.zrange(Scheduler.scheduled_jobs_key, 0, -1,
                                                                      withscores=True) if b"-wait" in job_id}


def test_an_accepted_delivery_waits_on_its_booking_until_applied(client, conn):
    payload = booking()
    envelope = samples.envelope("invitee.created", payload)
    assert post_delivery(client, envelope).status_code == 200
    assert post_delivery(client, envelope).json["status"] == "duplicate"
    assert waiting_ids(conn, payload["uri"]) == {waiting.delivery_id(envelope)}
    assert 0 < conn.ttl(keys.waiting_deliveries(payload["uri"])) <= defaults.WAITING_DELIVERY_TTL
    run_jobs(conn)
    assert not conn.exists(keys.waiting_deliveries(payload["uri"]))


def test_a_rebooking_waits_on_the_new_booking_and_the_old(client, conn):
    old = booking()
    new = samples.rescheduled(old, start=datetime.now(timezone.utc) + timedelta(days=3))
    envelope = samples.envelope("invitee.created", new)
    post_delivery(client, envelope)
    assert new["old_invitee"] == old["uri"]
    assert waiting_ids(conn, new["uri"]) == waiting_ids(conn, old["uri"]) == {waiting.delivery_id(envelope)}
    run_jobs(conn)
    assert not conn.exists(keys.waiting_deliveries(new["uri"]), keys.waiting_deliveries(old["uri"]))


def test_an_unusable_delivery_stops_holding_its_booking(client, conn):
    payload = booking()
    envelope = samples.envelope("invitee.created", payload)
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(defaults.PROCESS_EVENT_FUNC,
                                                          dict(envelope, payload=dict(payload, email=None)))
    conn.sadd(keys.waiting_deliveries(payload["uri"]), waiting.delivery_id(envelope))
    run_jobs(conn)
    assert not conn.exists(keys.waiting_deliveries(payload["uri"]))


def test_a_confirmation_waits_for_the_cancellation_behind_it_and_others_do_not(client, conn, caplog):
    cancelled, kept = booking(phone="+1 404 555 0001"), booking(phone="+1 404 555 0002")
    post_delivery(client, samples.envelope("invitee.created", cancelled))
    post_delivery(client, samples.envelope("invitee.created", kept))
    post_delivery(client, samples.envelope("invitee.canceled", samples.canceled(cancelled)))
    run_jobs(conn)
    # The kept booking's confirmation went out between deliveries; the cancelled one's
    # confirmation was put off while its cancellation waited, then the cancellation was sent.
    assert [(m["kind"], m["to"]) for m in console_messages(caplog)] == [
        ("confirm", "+1404*****02"), ("cancel", "+1404*****01")]
    [(job_id, due)] = waits_scheduled(conn).items()
    assert job_id.endswith("-wait1") and due <= datetime.now(timezone.utc).timestamp() + 2
    waited = Job.fetch(job_id, connection=conn)
    assert waited.args[0]["waits"] == 1 and waited.origin == defaults.SMS_QUEUE
    confirmation = ledger.message_id(waited.args[0]["key"])
    assert ledger.load(conn, confirmation).state == "planned"
    # When it runs, the booking is cancelled: skipped, with the reason on record.
    Queue(defaults.SMS_QUEUE, connection=conn).enqueue(SEND_SMS_FUNC, waited.args[0], job_id=job_id)
    run_jobs(conn)
    assert len(console_messages(caplog)) == 2
    assert ledger.load(conn, confirmation).state == "skipped"


def test_a_notice_waits_while_a_delivery_can_still_be_applied_and_at_most_its_limit(client, conn, caplog):
    payload = booking()
    post_delivery(client, samples.envelope("invitee.created", payload))
    run_jobs(conn)
    # Two deliveries of the booking never applied: one still queued (on no queue a worker
    # here takes), one whose job failed for good; and three notices of the booking, put
    # off never, once less than the limit, and as often as it.
    name = keys.waiting_deliveries(payload["uri"])
    conn.sadd(name, "queued-delivery", "failed-delivery")
    conn.hset(f"rq:job:{keys.event_job('queued-delivery')}", "status", "queued")
    conn.hset(f"rq:job:{keys.event_job('failed-delivery')}", "status", "failed")
    for waits in (None, defaults.NOTICE_MAX_WAITS - 1, defaults.NOTICE_MAX_WAITS):
        notice = SmsPayload(key=f"notice-{waits}", kind="confirm", to="+14045550003", params={},
                            invitee=payload["uri"], waits=waits)
        Queue(defaults.SMS_QUEUE, connection=conn).enqueue(SEND_SMS_FUNC, notice.to_dict(), job_id=f"sms-{waits}")
    run_jobs(conn)
    assert conn.smembers(name) == {b"queued-delivery"}  # the failed one no longer holds anything
    assert [m["kind"] for m in console_messages(caplog)] == ["confirm", "confirm"]  # the booking's, the last
    assert set(waits_scheduled(conn)) == {"sms-None-wait1",
                                          f"sms-{defaults.NOTICE_MAX_WAITS - 1}-wait{defaults.NOTICE_MAX_WAITS}"}


def test_a_delivery_that_failed_for_good_holds_nothing(client, conn, caplog):
    payload = booking()
    post_delivery(client, samples.envelope("invitee.created", payload))
    conn.sadd(keys.waiting_deliveries(payload["uri"]), "failed-delivery")
    conn.hset(f"rq:job:{keys.event_job('failed-delivery')}", "status", "failed")
    run_jobs(conn)
    assert [m["kind"] for m in console_messages(caplog)] == ["confirm"] and not waits_scheduled(conn)
    assert not conn.exists(keys.waiting_deliveries(payload["uri"]))


def test_waits_back_off_to_their_ceiling(conn):
    from worker.sending import wait_for_deliveries

    payload = SmsPayload(key="k", kind="confirm", to="+14045550001", params={}, invitee="uri", waits=9)
    outcome = wait_for_deliveries(conn, payload, "sms-abc-wait9")
    assert outcome == {"status": "waiting", "waits": 10, "delay": defaults.NOTICE_WAIT_MAX_DELAY}
    assert list(waits_scheduled(conn)) == ["sms-abc-wait10"]


def test_a_notice_whose_quiet_hours_begin_while_it_waits_waits_for_their_end(conn, monkeypatch):
    """QUIET_HOURS_APPLY_TO names confirmations and the invitee's quiet hours begin within the
    second the notice would wait: it waits for their end instead, and its ledger entry says
    when it goes and why, as for a notice held when it was planned."""
    from shared.booking import BookingRecord
    from shared.vocabulary import BookingStatus
    from worker import context
    from worker.quiet_hours import QUIET_HOURS
    from worker.sending import wait_for_deliveries

    now = datetime(2026, 12, 2, 21, 59, 59, 500000, tzinfo=timezone.utc)
    monkeypatch.setenv("QUIET_HOURS", "22:00-08:00")
    monkeypatch.setenv("QUIET_HOURS_APPLY_TO", "reminder,followup,confirm")
    context.reset()
    record = BookingRecord("https://api.calendly.com/invitees/q", BookingStatus.ACTIVE, timezone="UTC",
                           phone="+14045550001")
    payload = SmsPayload(key="quiet", kind="confirm", to="+14045550001", params={}, invitee=record.invitee_uri,
                         waits=2)
    outcome = wait_for_deliveries(conn, payload, "sms-q-wait2", record, now=now)
    morning = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc).timestamp()
    assert outcome == {"status": "waiting", "waits": 3, "delay": 4, "due": int(morning)}
    assert waits_scheduled(conn) == {"sms-q-wait3": morning}
    waited = Job.fetch("sms-q-wait3", connection=conn).args[0]
    assert (waited["moved"], waited["due"], waited["waits"]) == (QUIET_HOURS, int(morning), 3)
    entry = ledger.load(conn, ledger.message_id("quiet"))
    assert entry.state == "planned" and entry.due == int(morning) and entry.events[-1].detail["moved"] == QUIET_HOURS

    # Outside quiet hours (or for a kind they do not hold) it waits its seconds, unmoved.
    outcome = wait_for_deliveries(conn, SmsPayload(**{**payload.to_dict(), "kind": "cancel", "key": "loud"}),
                                  "sms-l-wait2", record, now=now)
    assert outcome == {"status": "waiting", "waits": 3, "delay": 4}
    assert abs(waits_scheduled(conn)["sms-l-wait3"] - (now.timestamp() + 4)) < 1
    assert "moved" not in Job.fetch("sms-l-wait3", connection=conn).args[0]


def test_a_delivery_put_back_by_an_operator_is_waited_for_again(client, conn, capsys, monkeypatch, redis_url):
    """A failed delivery retried (/admin, `relay failed retry`) or a delivery replayed
    (`relay deliveries replay`, a new job id) holds its booking's notices again: a
    confirmation must not go out while the cancellation put back behind it waits."""
    from rq.registry import FailedJobRegistry

    from shared import operations
    from worker.cli import main

    payload = booking()
    envelope = samples.envelope("invitee.canceled", samples.canceled(payload))
    ident = post_delivery(client, envelope).json["delivery"]
    job = Job.fetch(keys.event_job(ident), connection=conn)
    # It failed for good, and a notice of the booking dropped it from the set meanwhile.
    Queue(defaults.EVENTS_QUEUE, connection=conn).remove(job)
    FailedJobRegistry(defaults.EVENTS_QUEUE, connection=conn).add(job, exc_string="boom")
    job.set_status("failed")
    assert not waiting.still_waiting(conn, payload["uri"]) and not waiting_ids(conn, payload["uri"])

    operations.retry_failed(conn, job.id)
    assert waiting_ids(conn, payload["uri"]) == {ident} and waiting.still_waiting(conn, payload["uri"])
    assert 0 < conn.ttl(keys.waiting_deliveries(payload["uri"])) <= defaults.WAITING_DELIVERY_TTL
    run_jobs(conn)
    assert not waiting_ids(conn, payload["uri"])  # applied: forgotten in its transaction

    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["deliveries", "replay", ident]) == 0
    replay_id = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    [member] = waiting_ids(conn, payload["uri"])
    assert keys.event_job(member) == replay_id and waiting.still_waiting(conn, payload["uri"])
    run_jobs(conn)
    assert Job.fetch(replay_id, connection=conn).get_status() == "finished"
    assert not waiting.still_waiting(conn, payload["uri"])  # its job finished: dropped
    assert not waiting_ids(conn, payload["uri"])


def test_a_retried_delivery_holds_its_bookings_notices_before_it_is_back_on_the_queue(client, conn, monkeypatch):
    """Held after the requeue, a notice checked in between would go out ahead of the
    delivery. A retry that loses the race to another (the job left the failed registry
    meanwhile) leaves a member that the next notice drops."""
    from rq.exceptions import InvalidJobOperation
    from rq.registry import FailedJobRegistry

    from shared import operations

    payload = booking()
    ident = post_delivery(client, samples.envelope("invitee.canceled", samples.canceled(payload))).json["delivery"]
    job = Job.fetch(keys.event_job(ident), connection=conn)
    Queue(defaults.EVENTS_QUEUE, connection=conn).remove(job)
    FailedJobRegistry(defaults.EVENTS_QUEUE, connection=conn).add(job, exc_string="boom")
    job.set_status("failed")
    assert not waiting.still_waiting(conn, payload["uri"])

    requeue = FailedJobRegistry.requeue
    held_at_requeue = []

    def watched(registry, job_or_id, *args, **kwargs):
        held_at_requeue.append(waiting_ids(conn, payload["uri"]))
        return requeue(registry, job_or_id, *args, **kwargs)

    monkeypatch.setattr(FailedJobRegistry, "requeue", watched)
    operations.retry_failed(conn, job.id)
    assert held_at_requeue == [{ident}]
    run_jobs(conn)

    job = Job.fetch(keys.event_job(ident), connection=conn)
    FailedJobRegistry(defaults.EVENTS_QUEUE, connection=conn).add(job, exc_string="boom")
    job.set_status("failed")

    def lost_race(registry, job_or_id, *args, **kwargs):
        registry.remove(job_or_id)
        raise InvalidJobOperation

    monkeypatch.setattr(FailedJobRegistry, "requeue", lost_race)
    with pytest.raises(LookupError, match="no longer failed"):
        operations.retry_failed(conn, job.id)
    assert waiting_ids(conn, payload["uri"]) == {ident}
    assert not waiting.still_waiting(conn, payload["uri"]) and not waiting_ids(conn, payload["uri"])
