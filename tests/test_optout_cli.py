"""Opting out and back in (worker/optout.py) and the operator's commands, ``relay optouts``
and ``relay messages``, through click's runner against a real Redis, the fake Brevo over HTTP
and the worker running the CRM jobs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from rq import Queue
from rq_scheduler import Scheduler

from shared import defaults, ledger, optouts, stats
from shared.booking import BookingStore
from shared.calendly import samples
from tests.fakes import FakeBrevo
from tests.helpers import run_jobs
from worker.cli import relay
from worker.cli.context import Relay
from worker.crm.brevo import BrevoClient, setup_attributes
from worker.crm.fields import effective_mapping
from worker.messages import message_key

PHONE = "+14045551234"


@pytest.fixture
def env(redis_url, monkeypatch):
    values = {"REDIS_URL": redis_url, "REMINDER_OFFSETS": "24h,1h", "FOLLOWUP_DELAY": "30m", "CRM_BACKEND": "off",
              "TEMPLATE_ID_CONFIRM": "101", "TEMPLATE_ID_REMINDER": "104", "TEMPLATE_ID_FOLLOWUP": "105"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def cli(env, *args):
    return CliRunner().invoke(relay, list(args), obj=Relay(env), catch_exceptions=False)


def book(conn, phone=PHONE, email="jane@example.com"):
    start = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    payload = samples.invitee_payload(start=start, duration=timedelta(minutes=30), phone=phone, email=email)
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(defaults.PROCESS_EVENT_FUNC,
                                                          samples.envelope("invitee.created", payload), None)
    run_jobs(conn)
    return payload


def test_opting_out_cancels_pending_reminders_and_records_them(conn, env, caplog):
    payload = book(conn)
    other = book(conn, phone="+14045550000")
    assert Scheduler(connection=conn).count() == 6
    result = cli(env, "optouts", "add", "+1 (404) 555-1234")
    assert result.exit_code == 0 and "+1404*****34 added to the opt-out list" in result.output
    assert optouts.is_opted_out(conn, PHONE)
    assert BookingStore(conn).load(payload["uri"]).reminder_jobs == ()
    assert len(BookingStore(conn).load(other["uri"]).reminder_jobs) == 3  # another number: untouched
    assert Scheduler(connection=conn).count() == 3
    for kind, slot in (("reminder", 86400), ("reminder", 3600), ("followup", None)):
        message = ledger.load(conn, ledger.message_id(message_key(kind, slot, payload["uri"])))
        assert (message.state, message.reason) == ("skipped", "opted_out")
    assert stats.read(conn, "optouts") == {("added", "operator"): 1}
    assert "4045551234" not in caplog.text and "+1404*****34" in caplog.text
    again = cli(env, "optouts", "add", PHONE)
    assert "was already on" in again.output
    listed = cli(env, "optouts", "list")
    assert "+1404*****34" in listed.output and "operator" in listed.output and "4045551234" not in listed.output


def test_opting_back_in(conn, env):
    optouts.add(conn, PHONE, "reply")
    result = cli(env, "optouts", "remove", PHONE)
    assert result.exit_code == 0 and "removed from" in result.output
    assert not optouts.is_opted_out(conn, PHONE)
    assert "was not on" in cli(env, "optouts", "remove", PHONE).output
    assert cli(env, "optouts", "list").output.strip() == "no opted-out numbers"


@pytest.mark.parametrize("command", ["add", "remove"])
def test_an_invalid_number_is_a_usage_error(env, command):
    result = CliRunner().invoke(relay, ["optouts", command, "12345"], obj=Relay(env))
    assert result.exit_code == 2
    assert "not a valid phone number" in result.output


def test_the_brevo_contact_is_marked_and_unmarked(conn, env, monkeypatch):
    with FakeBrevo() as brevo:
        monkeypatch.setenv("CRM_BACKEND", "brevo")
        monkeypatch.setenv("BREVO_API_KEY", FakeBrevo.API_KEY)
        monkeypatch.setenv("BREVO_API_URL", brevo.url)
        brevo_env = {**env, "CRM_BACKEND": "brevo", "BREVO_API_KEY": FakeBrevo.API_KEY, "BREVO_API_URL": brevo.url}
        setup_attributes(BrevoClient(brevo.url, FakeBrevo.API_KEY), effective_mapping({}))
        book(conn)
        assert "jane@example.com" in brevo.contacts
        cli(brevo_env, "optouts", "add", PHONE)
        run_jobs(conn)
        assert brevo.contacts["jane@example.com"]["smsBlacklisted"] is True
        [put] = [r for r in brevo.requests if r["method"] == "PUT"]
        assert put["path"] == "/contacts/jane%40example.com?identifierType=email_id"
        cli(brevo_env, "optouts", "remove", PHONE)
        run_jobs(conn)
        assert brevo.contacts["jane@example.com"]["smsBlacklisted"] is False
        # A number the relay has no booking for: found in Brevo by its SMS attribute.
        cli(brevo_env, "optouts", "add", "+14045559999")
        run_jobs(conn)
        put = [r for r in brevo.requests if r["method"] == "PUT"][-1]
        assert put["path"] == "/contacts/%2B14045559999?identifierType=phone_id" and put["status"] == 404
        assert stats.read(conn, "crm")[("sms_blacklist", "synced", "")] == 3


def test_messages_list_and_show(conn, env):
    payload = book(conn)
    book(conn, phone="+14045550000")
    listed = cli(env, "messages", "list", "--booking", payload["uri"])
    lines = listed.output.strip().splitlines()
    assert len(lines) == 5 and "4045551234" not in listed.output
    assert any("confirm" in line and "sent" in line for line in lines)
    assert len(cli(env, "messages", "list", "--kind", "reminder").output.strip().splitlines()) == 4
    assert len(cli(env, "messages", "list", "--state", "sent", "--since", "1h").output.strip().splitlines()) == 2
    skipped = cli(env, "messages", "list", "--state", "skipped", "--limit", "1").output
    assert "host_notify" in skipped and "no_host_phone" in skipped
    confirm = ledger.message_id(message_key("confirm", "invitee", payload["uri"]))
    shown = cli(env, "messages", "show", confirm).output
    assert f"message   {confirm}" in shown and "to        +1404*****34" in shown
    assert f"provider  {ledger.load(conn, confirm).provider_id}" in shown
    lines = shown.splitlines()
    assert [line.split()[2] for line in lines[8:]] == ["planned", "sent"]
    assert "due=20" in lines[8]
    missing = CliRunner().invoke(relay, ["messages", "show", "0" * 16], obj=Relay(env))
    assert missing.exit_code == 1 and "no message" in missing.output
    wrong = CliRunner().invoke(relay, ["messages", "list", "--since", "soon"], obj=Relay(env))
    assert wrong.exit_code == 2 and "is not a duration" in wrong.output
