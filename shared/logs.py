"""Structured logs, one JSON object per line, with personal data masked.

Call sites pass masked values (``mask_phone``, ``mask_email``) on purpose; the filter
below is the safety net that scrubs anything phone- or e-mail-like, or a configured
secret, that slipped into a message or a field anyway.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Iterable

EMAIL = re.compile(r"(?<![\w.%+\-])([\w.%+\-])[\w.%+\-]*@([\w.\-]+\.[A-Za-z]{2,})")
"""The lookbehind lets a match start only where a run of address characters starts, so a
long run without an "@" is scanned once, not once per character (linear, not quadratic)."""
PHONE = re.compile(r"\+\d[\d\s().\-]{6,}\d")
"""International numbers (a leading +), as Calendly sends them."""
NUMBERISH = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?)"
    r"|(?P<ip>(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]))"
    r"|(?P<run>(?<![\w+*])\(?\d[\d \t\-.()/]*)"
)
"""A run of digits and the separators people type in phone numbers, or an ISO date or an
IPv4 address, which are left alone. Each run is matched whole, once: linear time."""
NATIONAL_DIGITS = (7, 15)
"""A run with this many digits is taken for a phone number in a national format
(``(404) 555-9876``, ``020 7946 0958``, ``0151 23456789``): E.164 allows at most 15."""
DECIMAL = re.compile(r"\d+\.\d+")
URL = re.compile(r"\bhttps?://[^\s\"'<>]+", re.I)
KEPT_PATH_SEGMENT = re.compile(r"[A-Za-z_]{1,32}")
"""The first path segment of a URL is kept when it is a plain word (``/cancellations/``,
``/j/``, ``/scheduled_events/``), which says what the link is without what opens it."""
QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the HTTP request (or job) being handled; every log line carries it."""


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


def scrub(text: str, secrets: Iterable[str] = (), urls: bool = True) -> str:
    """Secrets replaced; e-mail addresses, phone numbers in any format and (with ``urls``)
    links masked down to their host and first word: a link can act for someone (a
    cancellation link, a meeting with its password in the query)."""
    for secret in secrets:
        if len(secret) >= MIN_SCRUBBED_SECRET_LENGTH:
            text = text.replace(secret, "[secret]")
    if urls and "://" in text:
        text = URL.sub(_mask_url, text)
    if "@" in text:
        text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    if "+" in text:
        text = PHONE.sub(lambda m: mask_phone(m.group(0)) or "", text)
    return NUMBERISH.sub(_mask_national, text)


def _mask_url(match: re.Match) -> str:
    """``https://calendly.com/cancellations/3f2…?x=1`` → ``https://calendly.com/cancellations/…``."""
    url = match.group(0)
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    host = host.split("?", 1)[0].split("#", 1)[0]
    if not path and "?" not in rest:
        return url
    first = path.split("/", 1)[0].split("?", 1)[0]
    kept = f"/{first}" if KEPT_PATH_SEGMENT.fullmatch(first) else ""
    return f"{scheme}://{host}{kept}/…"


def _mask_national(match: re.Match) -> str:
    run = match.group("run")
    if run is None:
        return match.group(0)
    body = run.rstrip(" \t-.(/")
    tail = run[len(body):]
    text, start, end = match.string, match.start(), match.end()
    # Part of an identifier (a UUID's group, ``abc-1234567``, ``1234567abc``), not a number.
    glued = (end < len(text) and (text[end].isalnum() or text[end] == "_") and (not tail or tail[-1] in "-./")) or \
        (start >= 2 and text[start - 1] in "-./_" and text[start - 2].isalnum())
    digits = sum(c.isdigit() for c in body)
    if glued or not NATIONAL_DIGITS[0] <= digits <= NATIONAL_DIGITS[1] or DECIMAL.fullmatch(body):
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


PHONE_SEPARATORS = r"[\s\-./()]*"


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
    import phonenumbers

    try:
        return str(phonenumbers.parse(e164, None).national_number)
    except phonenumbers.NumberParseException:
        return e164[1:]


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


def safe_traceback(exc_info, secrets: Iterable[str] = ()) -> str:
    """A traceback with its frames (file, line, function, the line of code) and each
    exception's type, but its message through ``safe_message``: the frames say where, the
    payload that caused it stays out. Chained exceptions are followed as Python does."""
    _, error, _ = exc_info
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    link: str | None = None
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append((error, link))
        if error.__cause__ is not None:
            error, link = error.__cause__, "The above exception was the direct cause of the following exception:"
        elif error.__context__ is not None and not error.__suppress_context__:
            error, link = error.__context__, "During handling of the above exception, another exception occurred:"
        else:
            error = None
    parts: list[str] = []
    for error, link in reversed(chain):
        frames = traceback.extract_tb(error.__traceback__)
        if frames:
            parts.append("Traceback (most recent call last):\n" + "".join(frames.format()))
        parts.append(f"{type(error).__module__}.{type(error).__qualname__}: {safe_message(error, secrets)}\n")
        if link:
            parts.append(f"\n{link}\n\n")
    return "".join(parts).rstrip("\n")


OWN_LOGGERS = "relay"
"""Extra fields are copied into the JSON line only from the relay's own loggers, whose
call sites pass masked values. Other libraries put whatever they hold there: RQ logs a
failing job's arguments (the whole delivery) as extras."""


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= MIN_SCRUBBED_SECRET_LENGTH)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if request_id.get() is not None:
            entry["request_id"] = request_id.get()
        if record.name == OWN_LOGGERS or record.name.startswith(OWN_LOGGERS + "."):
            for key, value in vars(record).items():
                if key not in RESERVED and not key.startswith("_"):
                    entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Scrub the values, then encode: scrubbing the encoded line would miss what JSON
        # escaped (non-ASCII, quotes) and could cut an escape sequence in half. ASCII output
        # keeps a lone surrogate from a hostile payload from breaking the stream.
        return json.dumps(self._scrubbed(entry), default=str)

    def formatException(self, ei) -> str:
        return safe_traceback(ei, self.secrets)

    def _scrubbed(self, value: Any) -> Any:
        if isinstance(value, str):
            return scrub(value, self.secrets)
        if isinstance(value, dict):
            return {key: self._scrubbed(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrubbed(item) for item in value]
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        return scrub(str(value), self.secrets)


def configure(level: str = "INFO", secrets: Iterable[str] = (), stream=None) -> None:
    """Route every logger (ours, rq's, gunicorn's) through the JSON formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("rq", "rq.worker", "rq_scheduler", "rq_scheduler.scheduler", "gunicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
