"""Personal data and secrets out of text: the masks call sites apply on purpose
(``mask_phone``, ``mask_email``, ``mask_name``), and ``scrub``, the safety net every log
line goes through (shared/logs.py), which masks anything phone- or e-mail-like, links that
act for someone, and configured secrets.
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import unquote

EMAIL = re.compile(r"(?<![\w.%+\-])([\w.%+\-])[\w.%+\-]*?(?:@|%40)([\w.\-]+\.[A-Za-z]{2,})")
"""The lookbehind lets a match start only where a run of address characters starts, so a
long run without an "@" is scanned once, not once per character (linear, not quadratic)."""
PHONE = re.compile(r"\+\d[\d\s().\-]{6,}\d")
"""International numbers (a leading +), as Calendly sends them."""
SEPARATORS = " \t.\\-\u00a0\u2007\u2009\u202f\u2010\u2011\u2012\u2013\u2014"
"""What people (and word processors) put between the digits of a phone number: spaces of
every width, dots, hyphens and dashes."""
PLAIN = re.compile(r"[A-Za-z_.:\- ]{0,200}")
"""Text with nothing the scrubber masks could hide in: no digit, "@", "/", "%" or "+"."""
HEX_ID = r"(?P<hexid>(?<![0-9A-Za-z_.])(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{16,}(?![0-9A-Za-z_.\-]))"
"""A hex id standing alone (a digest, RQ's job and worker ids: ``event-3f2a…``), taken whole:
every digit run inside one is glued to its hex letters, so none could be masked, but each
cost a Python call to find that out (35 µs of a worker's 47 µs for one RQ job line). Taken
whole, it also ends there: run by run, the digits after it (``…beef0 4045551234``) passed
as the tail of a run begun inside it. A token touching a dot or a dash on its right (a
date, an address, a UUID's group) goes run by run."""
NUMBERISH = re.compile(
    HEX_ID + r"|(?P<uuid>(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-]))"
    r"|(?P<date>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?)"
    r"|(?P<ip>(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]))"
    r"|(?P<run>(?<![+*\d])\(?\d[\d" + SEPARATORS + r"()/]*)"
)
"""A hex id, a run of digits and the separators people type in phone numbers, or a UUID (RQ's job ids,
Calendly's resources: a group may be all digits), an ISO date or an IPv4 address, which are
left alone. Each run is matched whole, once: linear time."""
NATIONAL_DIGITS = (7, 15)
"""A run with this many digits is taken for a phone number in a national format
(``(404) 555-9876``, ``020 7946 0958``, ``0151 23456789``): E.164 allows at most 15."""
LONG_RUN = re.compile(r"(?:\d[" + SEPARATORS + r"()/]*){%d}\d" % (NATIONAL_DIGITS[0] - 1))
"""At least as many digits in one run as the shortest national number: without one, no run
can be masked, and the run-by-run check (a Python call per digit run: a hex id has a dozen)
is skipped. Deterministic (a digit, then separators), so linear like the rest."""
DECIMAL = re.compile(r"\d+\.\d+")
URL = re.compile(r"\bhttps?(?:://|%3A%2F%2F)[^\s\"'<>]+"
                 r"|(?<![\w@./\-])(?:[a-z0-9\-]+\.)+[a-z]{2,24}/[^\s\"'<>]*", re.I)
"""Links with a scheme (also percent-encoded, as inside another link's query) and without
one (``zoom.us/j/851…?pwd=…``), which people paste into answers."""
KEPT_HOSTS = frozenset({"api.calendly.com"})
"""Calendly's API URIs name resources that only a token opens (an invitee, an event type):
kept whole, because operators need them to follow a booking."""
KEPT_PATH_SEGMENT = re.compile(r"[A-Za-z_]{1,32}")
"""The first path segment of a URL is kept when it is a plain word (``/cancellations/``,
``/j/``, ``/scheduled_events/``), which says what the link is without what opens it."""
QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
def mask_phone(phone: str | None) -> str | None:
    """``+14045551234`` → ``+1404*****34``: enough to tell numbers apart, not to dial."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 6:
        return "*" * len(digits)
    return f"+{digits[:4]}{'*' * (len(digits) - 6)}{digits[-2:]}"


def mask_name(name: str | None) -> str | None:
    """``Jane Doe`` → ``J*** D***``: the shape of a name, not the name."""
    if not name:
        return name
    return " ".join(f"{part[0]}***" for part in name.split())


def mask_email(email: str | None) -> str | None:
    """``jane.doe@example.com`` → ``j***@example.com``."""
    if not email:
        return email
    local, sep, domain = email.partition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


MIN_SCRUBBED_SECRET_LENGTH = 8
"""Shorter "secrets" (a test's ``s``) are not replaced: they would mangle every word that
contains them, and no real key is that short (ADMIN_TOKEN must have 16 characters)."""


class Verbatim(str):
    """A value the relay made itself from no personal data (a digest, a job or delivery id,
    a request id it generated): logged as is. Scrubbing one is wasted work on the hottest
    path (a 32-digit hex id sends every digit run through the phone-number check) and can
    only mangle it. Made only by the code that made the value, never from received text."""

    __slots__ = ()


def scrub(text: str, secrets: Iterable[str] = (), urls: bool = True) -> str:
    """Secrets replaced; e-mail addresses, phone numbers in any format and (with ``urls``)
    links masked down to their host and first word: a link can act for someone (a
    cancellation link, a meeting with its password in the query)."""
    for secret in secrets:
        if len(secret) >= MIN_SCRUBBED_SECRET_LENGTH:
            text = text.replace(secret, "[secret]")
    if PLAIN.fullmatch(text):  # most log values: words, names of things, no digits or links
        return text
    if urls and ("/" in text or "%2F" in text or "%2f" in text):
        text = URL.sub(_mask_url, text)
    if "@" in text or "%40" in text:
        text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    if "+" in text:
        text = PHONE.sub(lambda m: mask_phone(m.group(0)) or "", text)
    if not LONG_RUN.search(text):
        return text
    return NUMBERISH.sub(_mask_national, text)


def _mask_url(match: re.Match) -> str:
    """``https://calendly.com/cancellations/3f2…?x=1`` → ``https://calendly.com/cancellations/…``."""
    url = unquote(match.group(0)) if "%" in match.group(0) else match.group(0)
    scheme, found, rest = url.partition("://")
    if not found:
        scheme, rest = "", url
    host, _, path = rest.partition("/")
    host = host.split("?", 1)[0].split("#", 1)[0]
    prefix = f"{scheme}://" if scheme else ""
    if (not path and "?" not in rest) or host.lower() in KEPT_HOSTS:
        return prefix + rest
    first = path.split("/", 1)[0].split("?", 1)[0]
    kept = f"/{first}" if KEPT_PATH_SEGMENT.fullmatch(first) else ""
    return f"{prefix}{host}{kept}/…"


def _mask_national(match: re.Match) -> str:
    run = match.group("run")
    if run is None:
        return match.group(0)
    body = run.rstrip(SEPARATORS + "(/")
    tail = run[len(body):]
    digits = sum(c.isdigit() for c in body)
    if not NATIONAL_DIGITS[0] <= digits <= NATIONAL_DIGITS[1] or DECIMAL.fullmatch(body) or \
            _in_identifier(match.string, match.start(), match.end(), tail, digits):
        return run
    seen = 0
    masked = []
    for char in body:
        if char.isdigit():
            seen += 1
            masked.append(char if seen > digits - 2 else "*")
        else:
            masked.append(char)
    return "".join(masked) + tail


HEX = frozenset("0123456789abcdefABCDEF_")
SHORT_RUN = 9
"""Digit runs shorter than this next to a word through a dash or dot are taken for a piece
of an identifier (a UUID's 4- or 8-digit group); longer ones for a number (``Tel.07700…``)."""


def _in_identifier(text: str, start: int, end: int, tail: str, digits: int) -> bool:
    """Part of a hex digest, a UUID or a job id (``a1b2…1234567…``, ``-5738-4671-``), not a
    phone number: glued straight to hex letters, or a short run between an id's dashes."""
    left = _word(text, start - 1, -1)
    right = "" if tail else _word(text, end, 1)
    if (left and set(left) <= HEX) or (right and set(right) <= HEX):
        return True
    if digits >= SHORT_RUN:
        return False
    through_left = start >= 2 and text[start - 1] in "-./_" and text[start - 2].isalnum()
    through_right = bool(tail) and tail[-1] in "-./" and end < len(text) and text[end].isalnum()
    return through_left or through_right


def _word(text: str, index: int, step: int) -> str:
    """The letters, digits and underscores next to ``index`` going ``step`` (at most 64)."""
    found = []
    while 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_") and len(found) < 64:
        found.append(text[index])
        index += step
    return "".join(found)


PHONE_SEPARATORS = r"[\s\-./()\u2010-\u2014]*"


def redact(text: str, values: Iterable[str | None]) -> str:
    """``text`` with each of the given personal values masked wherever it appears: a
    provider's error may quote what it was sent ("Invalid email ... for Jane Doe"), which no
    pattern can tell from other words, but the job knows exactly what it sent. Names also
    word by word; phone numbers (E.164) in any spacing, with or without the country code."""
    for value in values:
        if not value or len(value) < 2:
            continue
        if value.startswith("+") and value[1:].isdigit():
            national = _national_digits(value)
            country = value[1:len(value) - len(national)]
            prefix = rf"(?:(?:\+|00)?{country}{PHONE_SEPARATORS})?" if country else ""
            text = re.sub(prefix + PHONE_SEPARATORS.join(national), mask_phone(value) or "***", text)
            continue
        bounded = rf"\b{re.escape(value)}\b" if value[0].isalnum() and value[-1].isalnum() else re.escape(value)
        text = re.sub(bounded, "***", text, flags=re.I)
        for word in re.findall(r"[^\W\d_]{2,}", value) if " " in value or "-" in value else ():
            text = re.sub(rf"\b{re.escape(word)}\b", f"{word[0]}***", text, flags=re.I)
    return text


def _national_digits(e164: str) -> str:
    from shared.phone import parsed  # libphonenumber, loaded only when a job redacts a number

    number = parsed(e164)
    return e164[1:] if number is None else str(number.national_number)


def safe_message(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """An exception's message fit for a log line or a failed job's record: scrubbed, and
    with quoted values masked unless the relay composed the message itself."""
    from shared.errors import RelayError

    if isinstance(error, RelayError):
        return scrub(str(error), secrets)
    return safe_text(str(error), secrets)


def safe_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Foreign text (an exception's message, a provider's answer) with quoted values masked
    and scrubbed."""
    return scrub(QUOTED.sub("'…'", text), secrets)
