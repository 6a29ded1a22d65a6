"""The opt-out list: numbers that asked not to be texted (a STOP reply, the platform's
"unsubscribed" status, an operator's correction). Pure storage; worker/optout.py does what
follows from a change (pending reminders cancelled, the CRM contact marked).

One Redis hash, kept for good: field = digest of the E.164 number (so the list holds no
clear number and a lookup is one HEXISTS), value = the masked number, when and why.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from shared import keys
from shared.phone import normalize
from shared.scrub import mask_phone


@dataclass(frozen=True)
class OptOut:
    phone: str
    """Masked (``+1404*****34``)."""
    at: float
    source: str
    """``reply``, ``status``, ``operator`` ..."""


def canonical(phone: str) -> str:
    """E.164 for what a person or a provider wrote: ``+1 404 555 1234``, or the digits
    with the country code but no ``+`` as SMS platforms report senders. ValueError when it
    is not a valid number."""
    text = (phone or "").strip()
    found = normalize(text)
    if found is None and text and not text.startswith("+"):
        found = normalize("+" + text.lstrip("0"))
    if found is None:
        raise ValueError("not a valid phone number with its country code (e.g. +14045551234)")
    return found


def is_opted_out(client, phone_e164: str) -> bool:
    return bool(look_up(client, phone_e164))


def look_up(client, phone_e164: str):
    """The lookup: its answer (truthy when the number is listed), or, in a pipeline,
    queued with the pipeline's other commands."""
    return client.hexists(keys.OPTOUTS, field(phone_e164))


def opted_out_among(client, phones) -> set[str]:
    """Which of these E.164 numbers are on the list, in one round trip."""
    phones = sorted(set(phones))
    if not phones:
        return set()
    found = client.hmget(keys.OPTOUTS, [field(phone) for phone in phones])
    return {phone for phone, entry in zip(phones, found) if entry is not None}


def add(client, phone: str, source: str, at: float | None = None) -> bool:
    """Put the number on the list; True if it was not on it (the first reason is kept)."""
    number = canonical(phone)
    entry = json.dumps({"phone": mask_phone(number), "at": round(at or time.time(), 3), "source": source},
                       separators=(",", ":"))
    return bool(client.hsetnx(keys.OPTOUTS, field(number), entry))


def remove(client, phone: str, source: str) -> bool:
    """Take the number off the list; True if it was on it. ``source`` is for the caller's log."""
    return bool(client.hdel(keys.OPTOUTS, field(canonical(phone))))


def entries(client) -> list[OptOut]:
    """Every opted-out number (masked), the most recent first."""
    found = [OptOut(**json.loads(raw)) for raw in client.hvals(keys.OPTOUTS)]
    return sorted(found, key=lambda entry: entry.at, reverse=True)


def field(phone: str) -> str:
    """A number's field in the list: a digest of its canonical form."""
    try:
        number = canonical(phone)
    except ValueError:
        number = phone  # looked up as given: an unparsable number is on no list
    return keys.digest(number)

