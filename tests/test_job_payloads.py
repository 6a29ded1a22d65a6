"""Jobs queued or scheduled by an earlier version run after an upgrade: their arguments
(plain dicts in Redis, for days when a reminder is pending) read into the typed payloads
and are written back in the same shape, and the send-once keys of what they send are the
keys earlier versions wrote, so nothing already sent goes out again."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue

from shared import defaults, keys
from shared.booking import BookingStore
from shared.calendly import samples
from tests.helpers import console_messages, run_jobs
from worker import scheduling
from worker.payloads import CrmPayload, ReminderPayload, SmsPayload
from worker.scheduling import BatchScheduler

URI = "https://api.calendly.com/scheduled_events/E1/invitees/I1"
SHAPES = [
    (SmsPayload, {"key": f"sms|confirm|invitee|{URI}", "kind": "confirm", "to": "+14045551234",
                  "params": {"name": "Jane", "time": "Tue"}, "template": "101", "invitee": URI}),
    (SmsPayload, {"key": f"sms|cancel|invitee|{URI}", "kind": "cancel", "to": "+14045551234",
                  "params": {"name": "Jane"}, "template": None, "invitee": URI, "attempt": 3}),
    (ReminderPayload, {"booking": keys.digest(URI), "kind": "reminder", "offset": 3600, "start": 1_800_000_000,
                       "due": 1_799_996_400}),
    (ReminderPayload, {"booking": keys.digest(URI), "kind": "followup", "offset": None, "start": 1_800_000_000,
                       "due": 1_800_003_600, "attempt": 1}),
    (CrmPayload, {"key": f"crm|booked|{URI}|created", "kind": "contact", "contact": {"email": "j@example.com"},
                  "event": "calendly_booked", "invitee": URI}),
    (CrmPayload, {"key": "crm|lead|S1", "kind": "lead", "contact": {"email": "l@example.com"}, "event": None,
                  "submission": "S1"}),
]


@pytest.mark.parametrize("payload_class, stored", SHAPES)
def test_an_earlier_versions_argument_reads_and_writes_back_unchanged(payload_class, stored):
    assert payload_class.from_dict(stored).to_dict() == stored


def test_keys_it_does_not_know_are_ignored_and_a_missing_one_fails_the_job():
    data = dict(SHAPES[2][1], extra="from a later version")
    assert ReminderPayload.from_dict(data).to_dict() == SHAPES[2][1]
    with pytest.raises(KeyError, match="due"):
        ReminderPayload.from_dict({key: value for key, value in SHAPES[2][1].items() if key != "due"})


def test_a_reminder_scheduled_before_the_upgrade_fires_under_its_old_key(conn, caplog):
    start = (datetime.now(timezone.utc) + timedelta(minutes=30)).replace(microsecond=0)
    booking = samples.invitee_payload(start=start)
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
        defaults.PROCESS_EVENT_FUNC, samples.envelope("invitee.created", booking),
        "2026-11-30T10:00:00+00:00")  # the receive time earlier receivers passed along
    run_jobs(conn)
    assert BookingStore(conn).load(booking["uri"]).status == "active"
    assert conn.get(keys.sent(f"sms|confirm|invitee|{booking['uri']}")).startswith(b"sent:")
    old_reminder = {"booking": keys.digest(booking["uri"]), "kind": "reminder", "offset": 3600,
                    "start": int(start.timestamp()), "due": int(start.timestamp()) - 3600}
    with conn.pipeline() as pipe:  # as the earlier version scheduled it: a dict, under its function's name
        scheduling.schedule(pipe, conn, datetime.now(timezone.utc), "worker.jobs.send_reminder", old_reminder,
                            "reminder-3600-from-before")
        pipe.execute()
    conn.zadd("rq:scheduler:scheduled_jobs", {"reminder-3600-from-before": 0})
    BatchScheduler(connection=conn).enqueue_jobs()
    run_jobs(conn)
    assert [m["kind"] for m in console_messages(caplog)] == ["confirm", "reminder"]
    assert conn.get(keys.sent(f"sms|reminder|3600|{booking['uri']}")).startswith(b"sent:")
