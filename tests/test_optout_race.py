"""A STOP processed while a reminder is being sent (worker/sending.py): after the reminder
was planned and fired, before the provider is called. The number is looked up with the
send-once claim, in its round trip, right before the provider."""

from __future__ import annotations

from rq_scheduler import Scheduler

from shared import keys, optouts
from tests.test_message_ledger import PHONE, apply, booking, engagelab, fire, message  # noqa: F401
from worker import idempotency
from worker.messages import message_key


def test_a_stop_processed_during_the_send_stops_the_reminder(conn, engagelab, monkeypatch):  # noqa: F811
    payload = booking()
    apply(conn, "invitee.created", payload)
    assert len(engagelab.messages()) == 1  # the confirmation
    real_claim = idempotency.claim

    def claim_while_stop_arrives(client, key, refuse_if=None):
        optouts.add(conn, PHONE, "reply")  # the callbacks worker, meanwhile
        return real_claim(client, key, refuse_if)

    monkeypatch.setattr(idempotency, "claim", claim_while_stop_arrives)
    [job] = [j for j in Scheduler(connection=conn).get_jobs() if j.id.startswith("reminder-3600")]
    fire(conn, job.id)
    assert len(engagelab.messages()) == 1  # no reminder
    reminder = message(conn, "reminder", 3600, payload["uri"])
    assert (reminder.state, reminder.reason) == ("skipped", "opted_out")
    # The claim was given back: nothing says the reminder went.
    assert conn.get(keys.sent(message_key("reminder", 3600, payload["uri"]))) is None


def test_a_stop_replayed_after_a_failure_midway_still_marks_the_crm_contact(conn, monkeypatch):
    """The number went on the list, then Redis failed while its reminders were being
    removed: the job fails and is replayed. The replay finds the number listed already;
    the CRM change (smsBlacklisted) must have been queued all the same."""
    import pytest
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue

    from shared import defaults
    from tests.test_replan import configure
    from worker import optout

    payload = booking()
    apply(conn, "invitee.created", payload)
    settings = configure(monkeypatch, CRM_BACKEND="log")
    Queue(defaults.CRM_QUEUE, connection=conn).empty()
    real_cancel = optout._cancel_pending

    def cancel_failing(client, record):
        raise RedisConnectionError("connection reset by peer")

    monkeypatch.setattr(optout, "_cancel_pending", cancel_failing)
    with pytest.raises(RedisConnectionError):
        optout.opt_out(conn, PHONE, "reply", settings)
    monkeypatch.setattr(optout, "_cancel_pending", real_cancel)
    optout.opt_out(conn, PHONE, "reply", settings)  # the replay
    jobs = Queue(defaults.CRM_QUEUE, connection=conn).jobs
    assert [job.args[0]["contact"]["blacklisted"] for job in jobs] == [True]
    assert optouts.is_opted_out(conn, PHONE)


def test_a_notice_to_a_number_opted_out_and_now_refused_records_the_opt_out(conn, engagelab, monkeypatch):  # noqa: F811
    """Opted out after the confirmation was planned, and SMS_COUNTRIES changed meanwhile:
    the person's own choice is the reason on record, not the country."""
    from rq import Queue

    from shared import defaults
    from shared.calendly import samples
    from tests.helpers import run_jobs
    from tests.test_replan import configure
    from worker.rq_worker import RelaySimpleWorker

    payload = booking()
    events = Queue(defaults.EVENTS_QUEUE, connection=conn)
    events.enqueue(defaults.PROCESS_EVENT_FUNC, samples.envelope("invitee.created", payload), None)
    RelaySimpleWorker([events], connection=conn).work(burst=True)  # planned, not sent yet
    optouts.add(conn, PHONE, "reply")
    configure(monkeypatch, SMS_COUNTRIES="GB")
    run_jobs(conn)
    confirm = message(conn, "confirm", "invitee", payload["uri"])
    assert (confirm.state, confirm.reason) == ("skipped", "opted_out")
    assert engagelab.messages() == []
