"""What a replan (worker/replan.py) leaves in the message ledger and for opted-out numbers:
a reminder it removes is skipped, one it moves is planned at its new time, one it adds is
planned; an opted-out number gets no reminder back."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared import ledger, optouts
from shared.vocabulary import SmsKind
from tests.test_reminders import scheduled
from tests.test_replan import booking, configure  # noqa: F401 (booking: a fixture)
from worker import replan
from worker.messages import message_key

PHONE = "+14045551234"


def entry(conn, payload, kind, offset):
    return ledger.load(conn, ledger.message_id(message_key(kind, offset, payload["uri"])))


def test_the_ledger_follows_what_a_replan_changed(conn, booking, monkeypatch):
    start = datetime.fromisoformat(booking["scheduled_event"]["start_time"])
    assert entry(conn, booking, SmsKind.REMINDER, 3600).state == "planned"
    replan.replan_all(conn, configure(monkeypatch, REMINDER_OFFSETS="24h,2h", FOLLOWUP_DELAY="2h"))
    dropped = entry(conn, booking, SmsKind.REMINDER, 3600)
    assert (dropped.state, dropped.reason) == ("skipped", "replanned")
    added = entry(conn, booking, SmsKind.REMINDER, 7200)
    assert added.state == "planned" and added.due == int((start - timedelta(hours=2)).timestamp())
    moved = entry(conn, booking, SmsKind.FOLLOWUP, None)
    assert moved.state == "planned" and moved.due == int((start + timedelta(minutes=150)).timestamp())
    assert entry(conn, booking, SmsKind.REMINDER, 86400).state == "planned"  # unchanged


def test_a_replan_brings_no_reminder_back_to_an_opted_out_number(conn, booking, monkeypatch):
    from worker.optout import opt_out

    opt_out(conn, PHONE, "reply", configure(monkeypatch))
    assert scheduled(conn) == {}
    summary = replan.replan_all(conn, configure(monkeypatch, REMINDER_OFFSETS="2h"))
    assert scheduled(conn) == {} and summary.changed == []
    assert optouts.is_opted_out(conn, PHONE)
    assert entry(conn, booking, SmsKind.REMINDER, 7200) is None
