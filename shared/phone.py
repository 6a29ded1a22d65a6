"""Phone numbers: find the invitee's number in a payload and normalise it to E.164."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

PHONE_QUESTION = re.compile(r"phone|mobile|cell|sms|whats ?app|tel[eé]fono|telefon|handy", re.I)
PHONE_LIKE_ANSWER = re.compile(r"^\s*\+?[\d\s().\-/]{7,24}\s*$")
OUTBOUND_CALL = "outbound_call"


@dataclass(frozen=True)
class PhoneLookup:
    """The normalised number, or why there is none (``reason`` is a stable code)."""

    e164: str | None
    source: str | None
    reason: str | None


@lru_cache(maxsize=4096)
def parsed(number: str) -> phonenumbers.PhoneNumber | None:
    """libphonenumber's parse of a number written with its country code, or None. Cached:
    a message's number is parsed when its delivery is applied, in the opt-out lookup, by
    the toll fraud guard, for the invitee's time zone and locale, and to redact it from a
    provider's answer (libphonenumber's parse is a tenth of a send's CPU). Shared: callers
    only read it."""
    try:
        return phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None


@lru_cache(maxsize=4096)
def normalize(raw: str | None) -> str | None:
    """E.164 for a dialable number with a country code, else None."""
    if not raw or len(raw) > 40:
        return None
    number = parsed(raw)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_invitee_phone(
    text_reminder_number: str | None,
    answers: tuple[tuple[str, str], ...],
    location_type: str | None,
    location: str | None,
) -> PhoneLookup:
    """Calendly puts the number in one of three places, in this order of preference:
    the SMS-reminder field, a phone-like answer to the booking form, or the location of
    an "I will call you" (outbound call) event."""
    candidates = [("text_reminder_number", text_reminder_number)]
    candidates += [
        ("questions_and_answers", answer)
        for question, answer in answers
        if PHONE_QUESTION.search(question) or PHONE_LIKE_ANSWER.match(answer)
    ]
    if location_type == OUTBOUND_CALL:
        candidates.append(("outbound_call", location))
    present = [(source, value) for source, value in candidates if value and value.strip()]
    if not present:
        return PhoneLookup(None, None, "no_phone")
    for source, value in present:
        e164 = normalize(value)
        if e164:
            return PhoneLookup(e164, source, None)
    return PhoneLookup(None, present[0][0], "invalid_phone")
