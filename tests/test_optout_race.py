"""A STOP processed while a reminder is being sent (worker/sending.py): after the send
path's first look at the opt-out list, before the provider is called. The number is
looked up again inside the send-once claim, right before the provider."""

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

    def claim_while_stop_arrives(client, key):
        optouts.add(conn, PHONE, "reply")  # the callbacks worker, meanwhile
        return real_claim(client, key)

    monkeypatch.setattr(idempotency, "claim", claim_while_stop_arrives)
    [job] = [j for j in Scheduler(connection=conn).get_jobs() if j.id.startswith("reminder-3600")]
    fire(conn, job.id)
    assert len(engagelab.messages()) == 1  # no reminder
    reminder = message(conn, "reminder", 3600, payload["uri"])
    assert (reminder.state, reminder.reason) == ("skipped", "opted_out")
    # The claim was given back: nothing says the reminder went.
    assert conn.get(keys.sent(message_key("reminder", 3600, payload["uri"]))) is None
