"""Debug capture (RELAY_DEBUG_CAPTURE): the last accepted deliveries, masked, for 24 hours;
``relay deliveries list|show|replay``."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from rq.job import Job

from shared import captures
from shared.calendly import samples
from worker.cli import main
from tests.helpers import SIGNING_KEY, console_messages, post_delivery, run_jobs
from web.app import create_app


@pytest.fixture
def capturing(settings, conn, monkeypatch, redis_url):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SMS_BACKEND", "console")
    return create_app(replace(settings, debug_capture=True), redis_client=conn).test_client()


def test_accepted_deliveries_are_kept_masked_for_a_day(capturing, conn):
    envelope = samples.envelope("invitee.created", samples.invitee_payload(
        questions=[("Your mobile", "+44 20 7946 0958"), ("Work e-mail", "jane@work.example.com"),
                   ("Office", "(404) 555-9876")]))
    response = post_delivery(capturing, envelope, extra_headers={
        "Authorization": "Bearer x", "Cookie": "a=b", "X-Api-Key": "k", "X-Forwarded-For": "203.0.113.9"})
    ident = response.get_json()["delivery"]
    post_delivery(capturing, envelope)  # a duplicate is not captured again

    [capture] = captures.listing(conn)
    assert capture["id"] == ident
    text = json.dumps(capture)
    for personal in ("jane.doe@example.com", "jane@work.example.com", "4045551234", "404-555-1234", "7946 0958",
                     "555-9876", "203.0.113.9", SIGNING_KEY):
        assert personal not in text
    payload = capture["body"]["payload"]
    assert payload["email"] == "j***@example.com"
    assert payload["cancel_url"].endswith("/***") and payload["reschedule_url"].endswith("/***")
    assert capture["body"]["event"] == "invitee.created" and capture["event"] == "invitee.created"
    assert set(capture["headers"]) <= {"Content-Type", "Content-Length", "User-Agent", "Calendly-Webhook-Signature"}
    assert capture["headers"]["Calendly-Webhook-Signature"].startswith("t=")
    assert "v1=…" in capture["headers"]["Calendly-Webhook-Signature"]
    assert 0 < conn.ttl(captures.CAPTURE_LIST) <= 24 * 3600


@pytest.mark.parametrize("number", ["07700 900123", "0151 23456789", "0044 20 7946 0958", "06 12 34 56 78",
                                    "030/12345678", "098765 43210"])
def test_numbers_in_any_national_format_are_masked(number):
    envelope = samples.envelope("invitee.created", samples.invitee_payload(questions=[("Phone", number)]))
    stored = captures.snapshot("d1", envelope, {}, "2026-12-01T10:00:00+00:00")
    digits = "".join(c for c in number if c.isdigit())
    assert digits[:-2] not in "".join(c for c in stored if c.isdigit())
    assert envelope["payload"]["uri"] in stored  # API URIs stay readable


def test_links_typed_into_answers_are_masked_but_calendlys_uris_are_kept():
    payload = samples.invitee_payload(questions=[("Where", "join me at zoom.us/j/851234?pwd=s3cret"),
                                                 ("Site", "https://example.org/private/page?token=abc")])
    payload["scheduled_event"]["location"] = {"type": "custom", "location": "https://zoom.us/j/851234?pwd=s3cret"}
    stored = captures.snapshot("d1", samples.envelope("invitee.created", payload), {}, "2026-12-01")
    assert "s3cret" not in stored and "token=abc" not in stored and "private/page" not in stored
    assert payload["uri"] in stored and payload["scheduled_event"]["event_type"] in stored


def test_the_meeting_link_is_masked_like_the_booking_links():
    payload = samples.invitee_payload()
    payload["scheduled_event"]["location"] = {"type": "zoom", "join_url": "https://zoom.us/j/851234?pwd=canary"}
    stored = json.loads(captures.snapshot("d1", samples.envelope("invitee.created", payload), {}, "2026-12-01"))
    assert stored["body"]["payload"]["scheduled_event"]["location"]["join_url"] == "https://zoom.us/j/***"


def test_only_the_newest_200_are_kept(capturing, conn):
    for _ in range(captures.CAPTURE_SIZE + 3):
        post_delivery(capturing, samples.envelope("invitee.created", samples.invitee_payload()))
    assert conn.llen(captures.CAPTURE_LIST) == captures.CAPTURE_SIZE


def test_nothing_is_captured_unless_asked(client, conn):
    post_delivery(client, samples.envelope("invitee.created", samples.invitee_payload()))
    assert captures.listing(conn) == [] and not conn.exists(captures.CAPTURE_LIST)


def test_cli_lists_shows_and_replays_idempotently(capturing, conn, capsys, caplog):
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    ident = post_delivery(capturing, envelope).get_json()["delivery"]
    with caplog.at_level(logging.INFO):
        run_jobs(conn)
    assert len(console_messages(caplog)) == 1

    assert main(["deliveries", "list"]) == 0
    listed = capsys.readouterr().out
    assert ident in listed and "invitee.created" in listed and "j***@example.com" in listed
    assert main(["deliveries", "show", ident]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["body"]["payload"]["uri"] == envelope["payload"]["uri"]

    assert main(["deliveries", "replay", ident]) == 0
    out, err = capsys.readouterr()
    assert "dedupe bypassed" in err  # the CLI logs (JSON on stderr) that it bypassed the dedupe
    replay_id = out.strip().rsplit(" ", 1)[-1]
    run_jobs(conn)
    result = Job.fetch(replay_id, connection=conn).return_value()
    assert "invitee.created already applied" in result["notes"]
    assert result["jobs"] == [] and result["scheduled"] == []  # idempotent: nothing sent twice


def test_cli_says_when_a_delivery_is_unknown(conn, capsys, monkeypatch, redis_url):
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["deliveries", "show", "nope"]) == 1
    assert main(["deliveries", "replay", "nope"]) == 1
    assert "no longer kept" in capsys.readouterr().err
    assert main(["deliveries", "list"]) == 0
    assert "RELAY_DEBUG_CAPTURE is off" in capsys.readouterr().out
