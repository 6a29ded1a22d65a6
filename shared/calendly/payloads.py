"""Calendly webhook deliveries: validation (marshmallow) and the normalized form the
lifecycle works on. The raw envelope is always kept beside the normalized event.

Shapes follow the real v2 payloads (see tests/fixtures/calendly/README.md): most fields
are nullable, ``scheduled_event`` is missing from pre-2022 payloads, ``text_reminder_number``
looks like ``+1 404-555-1234``, and location ``type`` is an open string.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, validate

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

MAX_TEXT = 10_000
"""Longest text kept. Longer free text (a name, an answer, a cancellation reason) is cut to
this length; a longer identifier (a URI, a time zone, a phone field) is a malformed payload."""


class PayloadError(RelayError):
    """The delivery cannot be used; ``str(error)`` says which field and why, ``field`` names
    the field alone (list positions left out), for the unusable-deliveries metric."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field or re.sub(r"\.\d+(?=\.|$)", "", message.split(":", 1)[0].strip())


_truncated: ContextVar[list[str] | None] = ContextVar("truncated", default=None)


class FreeText(fields.String):
    """Optional free text a person typed: cut at MAX_TEXT, never a reason to drop a delivery
    (a cancellation whose reason ran long must still cancel). ``parse_delivery`` reports
    which fields were cut."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_TEXT:
            noted = _truncated.get()
            if noted is not None:
                noted.append(attr or self.name or "?")
            text = text[:MAX_TEXT]
        return text


def _text(validate_length: validate.Length | None = None, **kwargs) -> fields.String:
    return fields.String(validate=validate_length or validate.Length(max=MAX_TEXT), **kwargs)


def _nullable_text() -> fields.String:
    return _text(load_default=None, allow_none=True)


def _free_text() -> fields.String:
    return FreeText(load_default=None, allow_none=True)


class EnvelopeSchema(Schema):
    """What the receiver checks before enqueueing: enough to route and dedupe."""

    class Meta:
        unknown = INCLUDE

    event = _text(required=True, validate_length=validate.Length(min=1, max=200))
    created_at = _nullable_text()
    payload = fields.Dict(required=True)


class EnvelopePayloadSchema(Schema):
    class Meta:
        unknown = INCLUDE

    uri = _text(required=True, validate_length=validate.Length(min=1, max=2000))


class CalendlySchema(Schema):
    """A part of Calendly's payload: fields the relay does not use are left out, so a field
    Calendly adds tomorrow changes nothing."""

    class Meta:
        unknown = EXCLUDE


class QuestionAnswerSchema(CalendlySchema):
    question = _free_text()
    answer = _free_text()


class LocationSchema(CalendlySchema):
    type = _nullable_text()
    location = _free_text()
    join_url = _nullable_text()


class EventMembershipSchema(CalendlySchema):
    user = _nullable_text()
    user_email = _nullable_text()
    user_name = _free_text()


class ScheduledEventSchema(CalendlySchema):
    uri = _nullable_text()
    name = _free_text()
    start_time = fields.AwareDateTime(load_default=None, allow_none=True)
    end_time = fields.AwareDateTime(load_default=None, allow_none=True)
    event_type = _nullable_text()
    location = fields.Nested(LocationSchema, load_default=None, allow_none=True)
    event_memberships = fields.List(
        fields.Nested(EventMembershipSchema), load_default=list, allow_none=True
    )


class NoShowSchema(CalendlySchema):
    uri = _nullable_text()


class CancellationSchema(CalendlySchema):
    canceled_by = _free_text()
    reason = _free_text()
    canceler_type = _nullable_text()


class InviteeSchema(CalendlySchema):
    uri = _text(required=True, validate_length=validate.Length(min=1, max=2000))
    email = _text(required=True, validate_length=validate.Length(min=1, max=320))
    name = _free_text()
    first_name = _free_text()
    last_name = _free_text()
    status = _nullable_text()
    timezone = _nullable_text()
    text_reminder_number = _nullable_text()
    questions_and_answers = fields.List(
        fields.Nested(QuestionAnswerSchema), load_default=list, allow_none=True
    )
    event = _nullable_text()
    rescheduled = fields.Boolean(load_default=False, allow_none=True)
    old_invitee = _nullable_text()
    new_invitee = _nullable_text()
    cancel_url = _nullable_text()
    reschedule_url = _nullable_text()
    scheduled_event = fields.Nested(ScheduledEventSchema, load_default=None, allow_none=True)
    cancellation = fields.Nested(CancellationSchema, load_default=None, allow_none=True)
    no_show = fields.Nested(NoShowSchema, load_default=None, allow_none=True)


class RoutingFormSubmissionSchema(CalendlySchema):
    uri = _text(required=True, validate_length=validate.Length(min=1, max=2000))
    routing_form = _nullable_text()
    questions_and_answers = fields.List(
        fields.Nested(QuestionAnswerSchema), load_default=list, allow_none=True
    )
    submitter = _nullable_text()


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


# Schemas are built once: building one costs more than loading a payload with it.
ENVELOPE = EnvelopeSchema()
ENVELOPE_PAYLOAD = EnvelopePayloadSchema()
INVITEE = InviteeSchema()
ROUTING_FORM = RoutingFormSubmissionSchema()


def validate_envelope(data: Any) -> dict[str, Any]:
    """The receiver's check: raise PayloadError naming the first missing or bad field."""
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object", field="body")
    envelope = _load(ENVELOPE, data, "")
    _load(ENVELOPE_PAYLOAD, envelope["payload"], "payload.")
    return envelope


def parse_delivery(envelope: Any, source: str = WEBHOOK) -> Delivery:
    """Normalize an enqueued envelope; raise PayloadError when the lifecycle cannot use it."""
    token = _truncated.set([])
    try:
        delivery = _parse_delivery(envelope, source)
        cut = tuple(_truncated.get() or ())
    finally:
        _truncated.reset(token)
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
