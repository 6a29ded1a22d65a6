"""The worker's jobs in-process (rq SimpleWorker) against a real Redis."""

from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.job import Job

from shared import keys
from shared import defaults
from shared.booking import BookingStore
from shared.calendly import samples
from tests.helpers import console_messages, crm_changes, post_delivery, run_jobs
from worker import apply, context, idempotency
from worker.payloads import SEND_SMS_FUNC


def enqueue_event(conn, envelope, job_id=None):
    """Put a delivery on the events queue directly, bypassing the receiver's dedupe
    (as a replay or a re-run job would)."""
    return Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
        defaults.PROCESS_EVENT_FUNC, envelope, None, job_id=job_id
    )


def test_booking_produces_confirmation_and_contact(client, conn, caplog):
    payload = samples.invitee_payload(name="Ana Lima", phone="+55 11 91234-5678", tz="America/Sao_Paulo")
    post_delivery(client, samples.envelope("invitee.created", payload))
    run_jobs(conn)
    [message] = console_messages(caplog)
    assert message["kind"] == "confirm"
    assert message["to"] == "+5511*******78"
    assert message["params"]["name"] == "Ana Lima"
    assert message["params"]["time"].endswith("BRT") or "-03" in message["params"]["time"]
    assert crm_changes(caplog) == [{"status": "booked", "event": "calendly_booked", "email": "j***@example.com"}]
    record = BookingStore(conn).load(payload["uri"])
    assert record.status == "active" and record.phone == "+5511912345678"


def test_host_notice_goes_to_host_phone(client, conn, caplog, monkeypatch):
    monkeypatch.setenv("HOST_PHONE", "+44 20 7946 0958")
    context.reset()
    post_delivery(client, samples.envelope("invitee.created", samples.invitee_payload()))
    run_jobs(conn)
    kinds = {(m["kind"], m["to"]) for m in console_messages(caplog)}
    assert kinds == {("confirm", "+1404*****34"), ("host_notify", "+4420******58")}


def test_re_running_a_delivery_sends_nothing_twice(conn, caplog):
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    enqueue_event(conn, envelope, job_id="event-first")
    run_jobs(conn)
    enqueue_event(conn, envelope, job_id="event-replay")
    run_jobs(conn)
    assert [m["kind"] for m in console_messages(caplog)] == ["confirm"]
    assert len(crm_changes(caplog)) == 1


def test_a_side_effect_job_run_twice_sends_once(conn, caplog):
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    enqueue_event(conn, envelope)
    Queue(defaults.EVENTS_QUEUE, connection=conn)
    run_jobs(conn)
    sms_id = next(k.decode().split(":")[-1] for k in conn.keys("rq:job:sms-*"))
    job = Job.fetch(sms_id, connection=conn)
    Queue(defaults.SMS_QUEUE, connection=conn).enqueue(SEND_SMS_FUNC, *job.args, job_id=sms_id)
    run_jobs(conn)
    assert len(console_messages(caplog)) == 1
    assert Job.fetch(sms_id, connection=conn).return_value() == {"status": "duplicate"}


def test_an_unusable_delivery_fails_its_job_visibly_and_can_be_replayed(conn, caplog):
    from shared import stats
    from shared.operations import failures, retry_failed

    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    envelope["payload"]["email"] = None
    job = enqueue_event(conn, envelope)
    run_jobs(conn)
    assert job.get_status(refresh=True) == "failed"
    [failure] = failures(conn)
    assert failure.job_id == job.id and "UnusableDelivery: payload.email: Field may not be null." in failure.reason
    assert stats.read(conn, "deliveries_unusable") == {("payload.email",): 1}
    assert any("payload.email" in r.getMessage() for r in caplog.records if r.name == "relay.worker")
    retry_failed(conn, job.id)  # after a fix; here it is still unusable, and fails again
    run_jobs(conn)
    assert job.get_status(refresh=True) == "failed" and stats.read(conn, "deliveries_unusable")[("payload.email",)] == 2


def test_free_text_over_the_limit_is_cut_and_the_cancellation_still_applies(conn, caplog):
    booking = samples.invitee_payload(start=datetime.now(timezone.utc) + timedelta(days=2))
    enqueue_event(conn, samples.envelope("invitee.created", booking))
    run_jobs(conn)
    assert conn.zcard("rq:scheduler:scheduled_jobs") > 0
    canceled = samples.canceled(booking, reason="x" * 10_001)
    job = enqueue_event(conn, samples.envelope("invitee.canceled", canceled))
    run_jobs(conn)
    assert job.return_value()["records"] == {keys.digest(booking["uri"]): "canceled"}
    assert conn.zcard("rq:scheduler:scheduled_jobs") == 0  # reminders and follow-up removed
    assert [m["kind"] for m in console_messages(caplog)][-1] == "cancel"
    assert any(getattr(r, "truncated", None) == ["reason"] for r in caplog.records)


def test_missing_phone_is_a_logged_skip_not_an_error(conn, caplog):
    job = enqueue_event(conn, samples.envelope("invitee.created", samples.invitee_payload(phone=None, questions=[])))
    run_jobs(conn)
    assert console_messages(caplog) == []
    assert "sms:confirm:invitee:no_phone" in job.return_value()["skipped"]
    assert len(crm_changes(caplog)) == 1


def test_failed_send_releases_the_claim_so_a_retry_sends(conn, caplog, monkeypatch):
    from worker.sms.console import ConsoleSmsBackend

    calls = []

    def flaky(self, message):
        calls.append(message.kind)
        if len(calls) == 1:
            raise ConnectionError("provider down")
        return "ok-1"

    monkeypatch.setattr(ConsoleSmsBackend, "send", flaky)
    enqueue_event(conn, samples.envelope("invitee.created", samples.invitee_payload()))
    run_jobs(conn)
    [sms_key] = conn.keys("rq:job:sms-*")
    job_id = sms_key.decode().split(":")[-1]
    assert Job.fetch(job_id, connection=conn).get_status() == "failed"
    job = Job.fetch(job_id, connection=conn)
    Queue(defaults.SMS_QUEUE, connection=conn).enqueue(SEND_SMS_FUNC, *job.args, job_id=job_id)
    run_jobs(conn)
    assert calls == ["confirm", "confirm"]
    assert conn.get(keys.sent(job.args[0]["key"])) == b"sent:ok-1"


def test_a_message_in_flight_elsewhere_is_not_sent_again_now(conn):
    key = "sms|confirm|invitee|u"
    assert idempotency.claim(conn, key)
    with pytest.raises(idempotency.AlreadyInFlight):
        idempotency.claim(conn, key)
    idempotency.mark_sent(conn, key, "id-1")
    assert idempotency.claim(conn, key) is False
    assert conn.ttl(keys.sent(key)) > 30 * 24 * 3600


def test_a_read_sent_with_the_claim_can_refuse_it_and_gives_the_lease_back(conn):
    key = "sms|confirm|invitee|v"
    listed = lambda pipe, lease: pipe.exists("listed")  # noqa: E731
    assert idempotency.claim(conn, key, refuse_if=listed)  # not listed: claimed
    idempotency.release(conn, key)
    conn.set("listed", "1")
    with pytest.raises(idempotency.ClaimRefused):
        idempotency.claim(conn, key, refuse_if=listed)
    assert conn.get(keys.sent(key)) is None  # given back: a replay after START can send
    idempotency.mark_sent(conn, key, "id-2")
    assert idempotency.claim(conn, key, refuse_if=listed) is False  # sent already: a duplicate, not a refusal


def test_concurrent_change_to_a_record_is_retried_not_lost(conn, monkeypatch, settings):
    """Two workers apply the two halves of a reschedule at once: the WATCH sees the
    other's write, the decision is taken again on fresh records."""
    from datetime import datetime, timezone

    from shared.calendly.payloads import parse_delivery
    from worker import lifecycle

    old = samples.invitee_payload()
    new = samples.rescheduled(old, start=datetime(2030, 1, 1, tzinfo=timezone.utc))
    created_old = parse_delivery(samples.envelope("invitee.created", old))
    old_half = parse_delivery(samples.envelope("invitee.canceled", samples.canceled(old, rescheduled_to=new["uri"])))
    created_new = parse_delivery(samples.envelope("invitee.created", new))
    now = datetime.now(timezone.utc)
    apply.apply_delivery(conn, created_old, settings, now)

    real_decide = lifecycle.decide
    interfered = []

    def decide_while_another_worker_commits(delivery, stored, at):
        if not interfered:
            interfered.append(True)
            apply.apply_delivery(conn.__class__(connection_pool=conn.connection_pool), old_half, settings, now)
        return real_decide(delivery, stored, at)

    monkeypatch.setattr(lifecycle, "decide", decide_while_another_worker_commits)
    apply.apply_delivery(conn, created_new, settings, now)
    store = BookingStore(conn)
    assert store.load(old["uri"]).status == "rescheduled"
    assert store.load(old["uri"]).new_invitee == new["uri"]
    assert store.load(new["uri"]).status == "active"
