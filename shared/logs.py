"""Structured logs with personal data masked: one JSON object per line, or, on a terminal
(or with LOG_FORMAT=text), one short line a person reads.

Call sites pass masked values (``mask_phone``, ``mask_email``) on purpose; every line then
goes through ``scrub`` (shared/scrub.py), the safety net that masks anything phone- or
e-mail-like, or a configured secret, that slipped into a message or a field anyway.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Iterable

from shared.scrub import MIN_SCRUBBED_SECRET_LENGTH, Verbatim, safe_message, scrub

RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the HTTP request (or job) being handled; every log line carries it."""


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


class SafeFormatter(logging.Formatter):
    """What a log line holds, scrubbed: the time, level, logger and message, the request id,
    the relay's own extra fields, and a safe traceback."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= MIN_SCRUBBED_SECRET_LENGTH)

    def entry(self, record: logging.LogRecord) -> dict[str, Any]:
        # Scrub the values, then encode: scrubbing the encoded line would miss what JSON
        # escaped (non-ASCII, quotes) and could cut an escape sequence in half. The time,
        # level and logger name are the formatter's own: nothing to scrub there.
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage(), self.secrets),
        }
        given = request_id.get()
        if given is not None:  # a client may choose it; the relay's own is Verbatim
            entry["request_id"] = given if type(given) is Verbatim else scrub(given, self.secrets)
        if record.name == OWN_LOGGERS or record.name.startswith(OWN_LOGGERS + "."):
            for key, value in vars(record).items():
                if key not in RESERVED and not key.startswith("_"):
                    entry[key] = self._scrubbed(value)
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info), self.secrets)
        return entry

    def formatException(self, ei) -> str:
        return safe_traceback(ei, self.secrets)

    def _scrubbed(self, value: Any) -> Any:
        if type(value) is Verbatim:
            return value
        if isinstance(value, str):
            return scrub(value, self.secrets)
        if isinstance(value, dict):
            return {key: self._scrubbed(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrubbed(item) for item in value]
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        return scrub(str(value), self.secrets)


class JsonFormatter(SafeFormatter):
    """One JSON object per line: what production logs, and what tools read."""

    # ASCII output keeps a lone surrogate from a hostile payload from breaking the stream.
    # One encoder for every line: json.dumps with an argument builds a new one each time.
    encoder = json.JSONEncoder(default=str)

    def format(self, record: logging.LogRecord) -> str:
        return self.encoder.encode(self.entry(record))


LEVEL_COLOURS = {"debug": "2", "info": "32", "warning": "33", "error": "31", "critical": "1;31"}
"""ANSI colours of the level names on a terminal (dim, green, yellow, red, bold red)."""
HEADER_FIELDS = ("ts", "level", "logger", "msg", "exc")


class TextFormatter(SafeFormatter):
    """``16:21:38 INFO    relay.worker: delivery applied: invitee.created  event=... jobs=[...]``:
    the same scrubbed content as the JSON line, for a person at a terminal; ``colour``
    colours the level."""

    def __init__(self, secrets: Iterable[str] = (), colour: bool = False):
        super().__init__(secrets)
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        entry = self.entry(record)
        level = f"{entry['level'].upper():<7}"
        if self.colour:
            level = f"\033[{LEVEL_COLOURS.get(entry['level'], '0')}m{level}\033[0m"
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{key}={_shown(value)}" for key, value in entry.items()
                          if key not in HEADER_FIELDS and value is not None)
        line = f"{when} {level} {entry['logger']}: {entry['msg']}" + (f"  {fields}" if fields else "")
        if "exc" in entry:
            line += "\n" + "\n".join("    " + part for part in entry["exc"].splitlines())
        return line


def _shown(value: Any) -> str:
    if isinstance(value, str) and value and not any(ch.isspace() for ch in value):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def colour_level(line: str) -> str:
    """A text line written by another process, with its level coloured (``relay dev``
    shows its processes' lines on a terminal)."""
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[1].lower() in LEVEL_COLOURS and parts[0].count(":") == 2:
        colour = LEVEL_COLOURS[parts[1].lower()]
        return f"{parts[0]} \033[{colour}m{parts[1]}\033[0m {parts[2]}"
    return line


FORMATS = ("json", "text")


def formatter(log_format: str | None = None, secrets: Iterable[str] = (), stream=None) -> SafeFormatter:
    """LOG_FORMAT's choice, else text for a terminal and JSON for anything else (a file, a
    pipe, a platform's log collector): production output is JSON unless asked otherwise."""
    stream = stream or sys.stderr
    terminal = _is_terminal(stream)
    if (log_format or ("text" if terminal else "json")) == "text":
        return TextFormatter(secrets, colour=terminal)
    return JsonFormatter(secrets)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def configure(level: str = "INFO", secrets: Iterable[str] = (), stream=None, log_format: str | None = None) -> None:
    """Route every logger (ours, rq's, gunicorn's) through one safe formatter."""
    stream = stream or sys.stderr
    # No line shows the source file, thread or process of a record: the logging HOWTO's
    # "Optimization" settings skip gathering them (a stack walk and three lookups for
    # every record; a tenth of the receiver's log line).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format, secrets, stream))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("rq", "rq.worker", "rq_scheduler", "rq_scheduler.scheduler", "gunicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
