"""The marshmallow schemas of Calendly's webhook payloads: what a delivery must hold for the
relay to use it. shared/calendly/payloads.py loads with them and normalizes the result."""

from __future__ import annotations

from contextvars import ContextVar

from marshmallow import EXCLUDE, Schema, fields, validate

MAX_TEXT = 10_000
"""Longest text kept. Longer free text (a name, an answer, a cancellation reason) is cut to
this length; a longer identifier (a URI, a time zone, a phone field) is a malformed payload."""

MAX_EVENT_NAME = 200
MAX_URI = 2000
"""The envelope's event name and its payload's URI, at most (EnvelopeSchema)."""


truncated_fields: ContextVar[list[str] | None] = ContextVar("truncated", default=None)


class FreeText(fields.String):
    """Optional free text a person typed: cut at MAX_TEXT, never a reason to drop a delivery
    (a cancellation whose reason ran long must still cancel). ``parse_delivery`` reports
    which fields were cut."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_TEXT:
            noted = truncated_fields.get()
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
    """What the receiver checks before enqueueing: enough to route and dedupe. Only checked:
    the receiver keeps the envelope exactly as it came, so nothing else is copied."""

    class Meta:
        unknown = EXCLUDE

    event = _text(required=True, validate_length=validate.Length(min=1, max=MAX_EVENT_NAME))
    created_at = _nullable_text()
    payload = fields.Dict(required=True)


class EnvelopePayloadSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    uri = _text(required=True, validate_length=validate.Length(min=1, max=MAX_URI))


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


# Schemas are built once: building one costs more than loading a payload with it.
ENVELOPE = EnvelopeSchema()
ENVELOPE_PAYLOAD = EnvelopePayloadSchema()
INVITEE = InviteeSchema()
ROUTING_FORM = RoutingFormSubmissionSchema()
