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
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Iterable

EMAIL = re.compile(r"([\w.%+\-])[\w.%+\-]*@([\w.\-]+\.[A-Za-z]{2,})")
PHONE = re.compile(r"\+\d[\d\s().\-]{6,}\d")
"""International numbers (a leading +), as Calendly sends them; bare digit runs are left
alone so that dates, ids and counts stay readable."""
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


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if len(secret) >= MIN_SCRUBBED_SECRET_LENGTH:
            text = text.replace(secret, "[secret]")
    text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return PHONE.sub(lambda m: mask_phone(m.group(0)) or "", text)


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
        for key, value in vars(record).items():
            if key not in RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Scrub the values, then encode: scrubbing the encoded line would miss what JSON
        # escaped (non-ASCII, quotes) and could cut an escape sequence in half. ASCII output
        # keeps a lone surrogate from a hostile payload from breaking the stream.
        return json.dumps(self._scrubbed(entry), default=str)

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
