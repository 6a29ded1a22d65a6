"""Calendly webhook deliveries: validated (with shared/calendly/schemas.py) into the
normalized form the lifecycle works on. The raw envelope is always kept beside the
normalized event (as django-anymail keeps ``esp_event``).

Shapes follow the real v2 payloads (see tests/fixtures/calendly/README.md): most fields
are nullable, ``scheduled_event`` is missing from pre-2022 payloads, ``text_reminder_number``
looks like ``+1 404-555-1234``, and location ``type`` is an open string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from marshmallow import Schema, ValidationError

from shared.calendly.schemas import (ENVELOPE, ENVELOPE_PAYLOAD, INVITEE, MAX_EVENT_NAME, MAX_TEXT, MAX_URI,
                                     ROUTING_FORM, truncated_fields)
from shared.errors import RelayError
from shared.validation import first_error

INVITEE_CREATED = "invitee.created"
INVITEE_CANCELED = "invitee.canceled"
NO_SHOW_CREATED = "invitee_no_show.created"
NO_SHOW_DELETED = "invitee_no_show.deleted"
ROUTING_FORM_SUBMISSION = "routing_form_submission.created"

INVITEE_EVENTS = frozenset({INVITEE_CREATED, INVITEE_CANCELED, NO_SHOW_CREATED, NO_SHOW_DELETED})
SUPPORTED_EVENTS = INVITEE_EVENTS | {ROUTING_FORM_SUBMISSION}

WEBHOOK = "webhook"
BACKFILL = "backfill"

class PayloadError(RelayError):
    """The delivery cannot be used; ``str(error)`` says which field and why, ``field`` names
    the field alone (list positions left out), for the unusable-deliveries metric."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field or re.sub(r"\.\d+(?=\.|$)", "", message.split(":", 1)[0].strip())


@dataclass(frozen=True)
class Invitee:
    uri: str
    email: str
    name: str | None
    timezone: str | None
    text_reminder_number: str | None
    questions_and_answers: tuple[tuple[str, str], ...]
    rescheduled: bool
    old_invitee: str | None
    new_invitee: str | None
    scheduled_event_uri: str | None
    start: datetime | None
    end: datetime | None
    event_type_uri: str | None
    event_type_name: str | None
    location_type: str | None
    location: str | None
    join_url: str | None
    cancellation_reason: str | None
    canceler_type: str | None


@dataclass(frozen=True)
class RoutingFormSubmission:
    uri: str
    routing_form: str | None
    questions_and_answers: tuple[tuple[str, str], ...]
    submitter: str | None


@dataclass(frozen=True)
class Delivery:
    """A normalized webhook delivery; ``raw`` is the envelope exactly as received."""

    event: str
    created_at: datetime | None
    payload: Invitee | RoutingFormSubmission
    raw: dict[str, Any] = field(repr=False, compare=False)
    source: str = WEBHOOK
    """``webhook``, or ``backfill`` for bookings read from the API (no notices sent)."""
    truncated: tuple[str, ...] = ()
    """Free-text fields cut at MAX_TEXT, for the log."""

    @property
    def invitee(self) -> Invitee:
        assert isinstance(self.payload, Invitee), self.event
        return self.payload


def validate_envelope(data: Any) -> dict[str, Any]:
    """The receiver's check: raise PayloadError naming the first missing or bad field."""
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object", field="body")
    if plainly_valid(data):
        return data
    _load(ENVELOPE, data, "")
    _load(ENVELOPE_PAYLOAD, data["payload"], "payload.")
    return data


def plainly_valid(data: dict[str, Any]) -> bool:
    """True only for an envelope the two envelope schemas take, decided without them: every
    delivery Calendly sends is one, and marshmallow's two loads cost the receiver about a
    tenth of its CPU (bench/RESULTS.md, seventh round). False sends the envelope through the
    schemas, which say what is wrong; tests/test_payloads.py holds the two to the same
    verdict on every shape of each field."""
    event, created_at, payload = data.get("event"), data.get("created_at"), data.get("payload")
    if type(event) is not str or not 0 < len(event) <= MAX_EVENT_NAME or type(payload) is not dict:
        return False
    if created_at is not None and (type(created_at) is not str or len(created_at) > MAX_TEXT):
        return False
    uri = payload.get("uri")
    return type(uri) is str and 0 < len(uri) <= MAX_URI


def parse_delivery(envelope: Any, source: str = WEBHOOK) -> Delivery:
    """Normalize an enqueued envelope; raise PayloadError when the lifecycle cannot use it."""
    token = truncated_fields.set([])
    try:
        delivery = _parse_delivery(envelope, source)
        cut = tuple(truncated_fields.get() or ())
    finally:
        truncated_fields.reset(token)
    return replace(delivery, truncated=cut) if cut else delivery


def _parse_delivery(envelope: Any, source: str) -> Delivery:
    validate_envelope(envelope)
    event = envelope["event"]
    if event not in SUPPORTED_EVENTS:
        raise PayloadError(f"event: unsupported event type {event[:60]!r}", field="event")
    created_at = _parse_time(envelope.get("created_at"), "created_at")
    if event == ROUTING_FORM_SUBMISSION:
        data = _load(ROUTING_FORM, envelope["payload"], "payload.")
        payload: Invitee | RoutingFormSubmission = RoutingFormSubmission(
            uri=data["uri"],
            routing_form=data["routing_form"],
            questions_and_answers=_answers(data["questions_and_answers"]),
            submitter=data["submitter"],
        )
    else:
        try:
            payload = _invitee(_load(INVITEE, envelope["payload"], "payload."))
        except OverflowError:
            raise PayloadError("payload.scheduled_event: start or end time out of range",
                               field="payload.scheduled_event") from None
    return Delivery(event=event, created_at=created_at, payload=payload, raw=envelope, source=source)


def _invitee(data: dict[str, Any]) -> Invitee:
    scheduled = data["scheduled_event"] or {}
    location = scheduled.get("location") or {}
    cancellation = data["cancellation"] or {}
    name = data["name"] or " ".join(
        part for part in (data["first_name"], data["last_name"]) if part
    )
    start, end = scheduled.get("start_time"), scheduled.get("end_time")
    return Invitee(
        uri=data["uri"],
        email=data["email"],
        name=name or None,
        timezone=data["timezone"],
        text_reminder_number=data["text_reminder_number"],
        questions_and_answers=_answers(data["questions_and_answers"]),
        rescheduled=bool(data["rescheduled"]),
        old_invitee=data["old_invitee"],
        new_invitee=data["new_invitee"],
        scheduled_event_uri=scheduled.get("uri") or data["event"],
        start=start.astimezone(timezone.utc) if start else None,
        end=end.astimezone(timezone.utc) if end else None,
        event_type_uri=scheduled.get("event_type"),
        event_type_name=scheduled.get("name"),
        location_type=location.get("type"),
        location=location.get("location"),
        join_url=location.get("join_url"),
        cancellation_reason=cancellation.get("reason"),
        canceler_type=cancellation.get("canceler_type"),
    )


def _answers(items: list[dict] | None) -> tuple[tuple[str, str], ...]:
    return tuple(
        (item["question"] or "", item["answer"] or "")
        for item in items or ()
        if item.get("question") or item.get("answer")
    )


def _load(schema: Schema, data: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PayloadError(f"{prefix.rstrip('.') or 'body'}: must be a JSON object")
    try:
        return schema.load(data)
    except ValidationError as error:
        raise PayloadError(first_error(error.messages, prefix)) from None


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    # The value is not quoted back: a malformed field may hold anything, and this message
    # reaches the log and the 400 answer.
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{name}: not an ISO-8601 time", field=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise PayloadError(f"{name}: out of range", field=name) from None
