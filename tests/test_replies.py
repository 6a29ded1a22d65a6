"""Replies and statuses through the receiver and the worker's jobs, against a real Redis,
the fake EngageLab and the fake Brevo over HTTP: STOP, START, HELP, a confirm word (the
booking reconfirmed, Brevo and the host told), unmatched replies kept masked, status rows
in the ledger, and one bad row among good ones."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from shared import engagelab_samples, ledger, optouts, stats
from shared.booking import BookingStore
from shared.calendly import samples
from shared.engagelab_callback import HEADER, generate_header
from shared.replies import normalize_reply, unmatched_replies, word_forms
from shared.settings import Settings
from tests.fakes import FakeBrevo
from tests.helpers import SIGNING_KEY, post_delivery, run_jobs
from web.app import create_app

SECRET, USER = "replies-secret-91ab", "relay"
PHONE, DISPLAYED = "+14045551234", "+1 404-555-1234"
HOST = "+14045559876"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def brevo():
    with FakeBrevo() as fake:
        for name in ("RECONFIRMED_AT", "MEETING_DATE"):
            fake.attribute_defs[name] = {"name": name, "category": "normal", "type": "date"}
        for name in ("CALENDLY_EVENT_TYPE", "BOOKING_STATUS", "COMPANY", "JOB_TITLE", "REBOOK_URL"):
            fake.attribute_defs[name] = {"name": name, "category": "normal", "type": "text"}
        yield fake


@pytest.fixture
def client(conn, engagelab, brevo, monkeypatch):
    for name, value in {
        "SMS_BACKEND": "engagelab", "ENGAGELAB_DEV_KEY": "k", "ENGAGELAB_DEV_SECRET": "s",
        "ENGAGELAB_API_URL": engagelab.url, "TEMPLATE_ID_CONFIRM": "11", "TEMPLATE_ID_HOST_RECONFIRMED": "77",
        "HOST_PHONE": HOST, "CRM_BACKEND": "brevo", "BREVO_API_KEY": FakeBrevo.API_KEY, "BREVO_API_URL": brevo.url,
        "REMINDER_OFFSETS": "off", "FOLLOWUP_DELAY": "off", "CALENDLY_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        "ENGAGELAB_CALLBACK_USERNAME": USER, "ENGAGELAB_CALLBACK_SECRET": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    return create_app(Settings.from_env(), redis_client=conn).test_client()


def post_rows(client, *rows):
    raw = engagelab_samples.body(list(rows))
    response = client.post("/webhooks/engagelab", data=raw,
                           headers={"Content-Type": "application/json", HEADER: generate_header(SECRET, USER)})
    assert response.status_code == 200, response.get_json()
    return response


def reply(client, conn, text, phone=PHONE):
    post_rows(client, engagelab_samples.reply_row(phone, text))
    run_jobs(conn)


def book(client, conn, start_in=timedelta(days=2), phone=DISPLAYED, email="jane.doe@example.com"):
    payload = samples.invitee_payload(phone=phone, email=email, start=NOW + start_in)
    assert post_delivery(client, samples.envelope("invitee.created", payload)).status_code == 200
    run_jobs(conn)
    return payload["uri"]


def rows_counted(conn):
    return stats.read(conn, "engagelab_rows")


@pytest.mark.parametrize("text, word", [("STOP", "STOP"), (" stop. ", "STOP"), ("Stop!!", "STOP"),
                                        ("  c ", "C"), ("1", "1"), ("«Confirm»", "CONFIRM")])
def test_a_reply_is_read_whole_without_case_spaces_or_punctuation(text, word):
    assert normalize_reply(text) == word


def test_a_word_typed_in_parts_is_read_as_one():
    assert "OPTOUT" in word_forms("opt out") and "OPTOUT" in word_forms("Opt-Out")
    assert "STOP" not in word_forms("please stop texting me")


@pytest.mark.parametrize("text", ["STOP", "stop", "Unsubscribe!", "opt out", "cancel"])
def test_a_stop_word_opts_the_number_out(client, conn, text):
    book(client, conn)
    reply(client, conn, text)
    assert optouts.is_opted_out(conn, PHONE)
    assert rows_counted(conn) == {("reply", "stop"): 1}


def test_start_opts_back_in_and_help_is_only_logged(client, conn, caplog):
    caplog.set_level(logging.INFO)
    reply(client, conn, "STOP")
    reply(client, conn, "help")
    assert optouts.is_opted_out(conn, PHONE)
    assert any("help" in record.getMessage() for record in caplog.records)
    reply(client, conn, "Start")
    assert not optouts.is_opted_out(conn, PHONE)
    assert rows_counted(conn) == {("reply", "stop"): 1, ("reply", "help"): 1, ("reply", "start"): 1}
    assert unmatched_replies(conn) == []
    assert PHONE not in caplog.text


def test_a_confirm_word_reconfirms_the_nearest_booking_in_brevo_and_to_the_host(client, conn, engagelab, brevo):
    later = book(client, conn, start_in=timedelta(days=5))
    nearest = book(client, conn, start_in=timedelta(days=1))
    reply(client, conn, "C")
    store = BookingStore(conn)
    assert store.load(nearest).reconfirmed_at is not None
    assert store.load(later).reconfirmed_at is None
    record = store.load(nearest)
    contact = brevo.contacts["jane.doe@example.com"]
    local_day = record.reconfirmed_at.astimezone(ZoneInfo(record.timezone)).date().isoformat()
    assert contact["attributes"]["RECONFIRMED_AT"] == local_day
    assert [e["event_name"] for e in brevo.events].count("calendly_reconfirmed") == 1
    host = [m for m in engagelab.messages() if m["to"] == HOST]
    assert len(host) == 1 and host[0]["template"] == "77"
    assert set(host[0]["params"]) == {"name", "time"} and host[0]["params"]["name"] == "Jane Doe"
    [notice] = [m for m in ledger.for_booking(conn, nearest) if m.kind == "host_reconfirmed"]
    assert notice.state in ("planned", "sent") and "*" in notice.to
    assert rows_counted(conn) == {("reply", "reconfirmed"): 1}
    # A second confirm changes nothing: no second notice, no second event.
    reply(client, conn, "confirm")
    assert len([m for m in engagelab.messages() if m["to"] == HOST]) == 1
    assert [e["event_name"] for e in brevo.events].count("calendly_reconfirmed") == 1
    assert rows_counted(conn)[("reply", "already_reconfirmed")] == 1


def test_without_the_template_the_host_notice_is_skipped_in_the_ledger(client, conn, engagelab, monkeypatch):
    monkeypatch.delenv("TEMPLATE_ID_HOST_RECONFIRMED")
    from worker import context

    context.reset()
    uri = book(client, conn)
    reply(client, conn, "1")
    assert BookingStore(conn).load(uri).reconfirmed_at is not None
    assert [m for m in engagelab.messages() if m["to"] == HOST] == []
    [notice] = [m for m in ledger.for_booking(conn, uri) if m.kind == "host_reconfirmed"]
    assert (notice.state, notice.reason) == ("skipped", "template_disabled")


def test_a_confirm_without_an_upcoming_booking_and_other_text_are_kept_masked(client, conn):
    reply(client, conn, "C")
    reply(client, conn, "Call me at +1 404 555 7777 or jane@example.com")
    newest, oldest = unmatched_replies(conn)
    assert (oldest.reason, newest.reason) == ("no_upcoming_booking", "unknown_word")
    assert newest.phone == "+1404*****34" and PHONE not in json.dumps(newest.__dict__)
    assert "555 7777" not in newest.text and "jane@example.com" not in newest.text
    assert rows_counted(conn) == {("reply", "unmatched"): 2}


def test_status_rows_reach_the_ledger_matched_by_custom_args_or_provider_id(client, conn, engagelab):
    uri = book(client, conn)
    [confirm] = [m for m in ledger.for_booking(conn, uri) if m.kind == "confirm"]
    post_rows(client, engagelab_samples.status_row("msg-x", "delivered", relay_message=confirm.id, to=PHONE))
    run_jobs(conn)
    assert ledger.load(conn, confirm.id).state == "delivered"
    post_rows(client, engagelab_samples.status_row("unknown-id", "delivered", to=PHONE),
              engagelab_samples.status_row("msg-y", "plan"))
    run_jobs(conn)
    counted = rows_counted(conn)
    assert counted[("status", "delivered")] == 1 and counted[("status", "orphan")] == 1
    assert counted[("status", "informational")] == 1


def test_a_failure_saying_unsubscribed_opts_the_number_out(client, conn):
    book(client, conn)
    post_rows(client, engagelab_samples.status_row("m-9", "sent_failed", to=PHONE, error_code=5019,
                                                   error_message="Process failed: Unsubscribe"))
    run_jobs(conn)
    assert optouts.is_opted_out(conn, PHONE)
    assert rows_counted(conn) == {("status", "opted_out"): 1}


def test_one_bad_row_is_counted_and_the_others_go_on(client, conn, caplog):
    post_rows(client,
              {"status": {"message_status": "exploded"}, "message_id": "m-1"},
              {"response": {"event": "uplink_message", "response_data": {"from": PHONE, "body": 42}}},
              {"notification": {"event": "insufficient_balance", "notification_data": {}}},
              engagelab_samples.reply_row(PHONE, "STOP"))
    run_jobs(conn)
    assert optouts.is_opted_out(conn, PHONE)
    assert rows_counted(conn) == {("status", "unreadable"): 1, ("reply", "unreadable"): 1,
                                  ("notification", "ignored"): 1, ("reply", "stop"): 1}
    assert PHONE not in caplog.text
