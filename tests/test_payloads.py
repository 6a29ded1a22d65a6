"""Parsing real delivery shapes (tests/fixtures/calendly) into normalized deliveries."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from marshmallow import ValidationError

from shared.calendly.payloads import (PayloadError, RoutingFormSubmission, parse_delivery, plainly_valid,
                                      validate_envelope)
from shared.calendly.schemas import ENVELOPE, ENVELOPE_PAYLOAD, MAX_EVENT_NAME, MAX_TEXT, MAX_URI

FIXTURES = Path(__file__).parent / "fixtures" / "calendly"


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def test_invitee_created_fixture():
    delivery = parse_delivery(fixture("invitee_created.json"))
    invitee = delivery.invitee
    assert delivery.event == "invitee.created"
    assert delivery.created_at == datetime(2023, 12, 24, 17, 27, 38, tzinfo=timezone.utc)
    assert invitee.start == datetime(2023, 12, 26, 16, 0, tzinfo=timezone.utc)
    assert invitee.start.tzinfo is timezone.utc
    assert invitee.text_reminder_number == "+1 404-555-1234"
    assert invitee.timezone == "Asia/Kolkata"
    assert invitee.event_type_name == "30 Minute Meeting"
    assert invitee.questions_and_answers[1] == ("Company", "Acme Inc.")
    assert invitee.join_url.endswith("/google_meet")
    assert delivery.raw == fixture("invitee_created.json")


def test_legacy_payload_without_scheduled_event():
    invitee = parse_delivery(fixture("invitee_canceled_legacy.json")).invitee
    assert invitee.name == "Dagobert Duck"
    assert invitee.start is None and invitee.event_type_uri is None
    assert invitee.scheduled_event_uri.endswith("GGGGGGGGGGGGGGGG")
    assert invitee.canceler_type is None
    assert invitee.cancellation_reason == ""


def test_outbound_call_location():
    invitee = parse_delivery(fixture("invitee_canceled_outbound_call.json")).invitee
    assert (invitee.location_type, invitee.location) == ("outbound_call", "+358 40 1234567")
    assert invitee.canceler_type == "host"


def test_routing_form_submission():
    delivery = parse_delivery(fixture("routing_form_submission_created.json"))
    assert isinstance(delivery.payload, RoutingFormSubmission)
    assert ("Work email", "lee.lead@example.com") in delivery.payload.questions_and_answers


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("payload", "email"), None, "payload.email"),
        (("payload", "email"), 42, "payload.email"),
        (("payload", "scheduled_event", "start_time"), "tomorrow", "payload.scheduled_event.start_time"),
        (("payload", "scheduled_event", "start_time"), "2023-12-26T16:00:00", "payload.scheduled_event.start_time"),
        (("payload", "questions_and_answers"), "nope", "payload.questions_and_answers"),
        (("payload", "timezone"), "x" * 20_000, "payload.timezone"),  # an identifier: not cut
        (("created_at",), "yesterday", "created_at"),
        (("created_at",), "9999-12-31T23:59:59-01:00", "created_at"),
        (("payload", "scheduled_event", "start_time"), "0001-01-01T00:00:00+01:00", "payload.scheduled_event"),
    ],
)
def test_unusable_payloads_name_the_field(path, value, field):
    data = fixture("invitee_created.json")
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(PayloadError) as caught:
        parse_delivery(data)
    assert str(caught.value).startswith(field)
    assert caught.value.field == field


def test_free_text_over_the_limit_is_cut_and_reported_not_refused():
    data = fixture("invitee_created.json")
    data["payload"]["name"] = "x" * 20_000
    data["payload"]["questions_and_answers"][0]["answer"] = "y" * 10_001
    delivery = parse_delivery(data)
    assert delivery.invitee.name == "x" * MAX_TEXT
    assert delivery.invitee.questions_and_answers[0][1] == "y" * MAX_TEXT
    assert delivery.truncated == ("name", "answer")
    assert parse_delivery(fixture("invitee_created.json")).truncated == ()


def test_nullable_fields_may_all_be_null():
    data = fixture("invitee_created.json")
    for key in ("name", "timezone", "text_reminder_number", "questions_and_answers", "scheduled_event",
                "cancellation", "no_show", "old_invitee", "new_invitee", "rescheduled"):
        data["payload"][key] = None
    invitee = parse_delivery(data).invitee
    assert invitee.name is None and invitee.start is None and invitee.questions_and_answers == ()


def test_unsupported_event_is_refused_by_the_worker_parser():
    data = fixture("invitee_created.json")
    data["event"] = "meeting_recap.created"
    with pytest.raises(PayloadError, match="unsupported"):
        parse_delivery(data)


def test_envelope_validation_is_lenient_about_unknown_keys():
    envelope = validate_envelope({"event": "x", "payload": {"uri": "u", "new": 1}, "extra": True})
    assert envelope["payload"]["new"] == 1


MISSING = object()
EVENTS = [MISSING, None, "", "x", "a" * MAX_EVENT_NAME, "a" * (MAX_EVENT_NAME + 1), 1, True, [], {}]
CREATED_AT = [MISSING, None, "", "2026-12-02T08:00:00.000000Z", "a" * MAX_TEXT, "a" * (MAX_TEXT + 1), 5, [], {}]
URIS = [MISSING, None, "", "u", "a" * MAX_URI, "a" * (MAX_URI + 1), 3, 1.5, [], {}]
PAYLOADS = [MISSING, None, "x", [], 7, *({} if uri is MISSING else {"uri": uri} for uri in URIS)]


def _shaped(event, created_at, payload) -> dict:
    fields = {"event": event, "created_at": created_at, "payload": payload}
    return {key: value for key, value in fields.items() if value is not MISSING}


def _schemas_verdict(data: dict) -> str:
    """What the envelope schemas alone say: "valid" or the receiver's error."""
    try:
        ENVELOPE.load(data)
        if not isinstance(data["payload"], dict):
            return "payload: must be a JSON object"
        ENVELOPE_PAYLOAD.load(data["payload"])
    except ValidationError as error:
        return f"invalid: {error.messages}"
    return "valid"


def _short(value) -> str:
    return f"{value[:3]!r}*{len(value)}" if isinstance(value, str) and len(value) > 10 else repr(value)


@pytest.mark.parametrize("event", EVENTS, ids=_short)
def test_the_fast_check_agrees_with_the_schemas_on_every_shape_of_each_field(event):
    """plainly_valid skips marshmallow for the common case: it may only say yes where the
    schemas do, and validate_envelope must then give the schemas' verdict everywhere."""
    for created_at in CREATED_AT:
        for payload in PAYLOADS:
            data = _shaped(event, created_at, payload)
            verdict = _schemas_verdict(data)
            if plainly_valid(data):
                assert verdict == "valid", data
            try:
                validate_envelope(data)
                mine = "valid"
            except PayloadError:
                mine = "refused"
            assert mine == ("valid" if verdict == "valid" else "refused"), data


def test_a_plain_delivery_takes_the_fast_path():
    assert plainly_valid(fixture("invitee_created.json"))
    assert plainly_valid(fixture("routing_form_submission_created.json"))
    assert not plainly_valid({"event": "invitee.created", "payload": {"uri": ""}})
