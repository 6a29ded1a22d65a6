"""The field mapping: which piece of a booking becomes which Brevo contact attribute.

A source is either a booking field (``name``, ``phone``, ``scheduled_at`` ...) or the text
of a booking-form question, matched case-insensitively. ``field_mapping`` in RELAY_CONFIG
is merged over the default below; mapping a source to ``null`` removes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from shared.phone import normalize
from shared.timefmt import zone_or_default
from shared.vocabulary import ContactStatus

DEFAULT_FIELD_MAPPING = {
    "name": "FIRSTNAME",
    "company": "COMPANY",
    "role": "JOB_TITLE",
    "phone": "SMS",
    "event_type_name": "CALENDLY_EVENT_TYPE",
    "scheduled_at": "MEETING_DATE",
    "status": "BOOKING_STATUS",
    "rebook_url": "REBOOK_URL",
    "reconfirmed_at": "RECONFIRMED_AT",
}

BOOKING_FIELDS = frozenset({
    "email", "name", "phone", "status", "timezone", "event_type_name", "event_type_uri", "scheduled_at", "join_url",
    "rebook_url", "reconfirmed_at",
})
"""Sources taken from the booking itself; any other source names a form question."""

SMS_ATTRIBUTE = "SMS"
STATUS_SOURCE = "status"
DATE_SOURCES = frozenset({"scheduled_at", "reconfirmed_at"})

BOOKING_STATUSES = tuple(ContactStatus)
"""The values of BOOKING_STATUS, in the order of their Brevo category ids (1-4)."""


def effective_mapping(configured: Mapping[str, str | None] | None) -> dict[str, str]:
    mapping: dict[str, str | None] = dict(DEFAULT_FIELD_MAPPING)
    for source, attribute in (configured or {}).items():
        mapping[source.strip().lower()] = attribute
    return {source: attribute for source, attribute in mapping.items() if attribute and source != "email"}


def contact_attributes(contact: Mapping[str, Any], mapping: Mapping[str, str],
                       default_timezone: str) -> dict[str, Any]:
    """Attribute values for ``contact`` (the job's snapshot of the booking); sources with
    no value are left out, so an update never blanks what Brevo already has."""
    answers = {_question_key(q): a for q, a in contact.get("answers") or () if a and a.strip()}
    attributes: dict[str, Any] = {}
    for source, attribute in mapping.items():
        value = contact.get(source) if source in BOOKING_FIELDS else answers.get(_question_key(source))
        if value in (None, ""):
            continue
        if attribute == SMS_ATTRIBUTE or source == "phone":
            value = normalize(str(value))  # Brevo's SMS attribute only in E.164
            if value is None:
                continue
        elif source in DATE_SOURCES:
            value = _local_date(value, contact.get("timezone"), default_timezone)
        attributes[attribute] = value
    return attributes


def _question_key(text: str) -> str:
    return text.strip().rstrip("?:*").strip().casefold()


def _local_date(iso: str, timezone_name: str | None, default_timezone: str) -> str:
    """Brevo date attributes hold a day: the meeting's day where the invitee lives."""
    moment = datetime.fromisoformat(iso)
    return moment.astimezone(zone_or_default(timezone_name, default_timezone)).date().isoformat()


def attribute_types(mapping: Mapping[str, str]) -> dict[str, str]:
    """What ``relay crm setup`` creates: date for dates, category for the status, text
    for the rest; SMS is Brevo's own identifier and is never created."""
    types = {}
    for source, attribute in mapping.items():
        if attribute == SMS_ATTRIBUTE:
            continue
        if source in DATE_SOURCES:
            types[attribute] = "date"
        elif source == STATUS_SOURCE:
            types[attribute] = "category"
        else:
            types[attribute] = "text"
    return types
