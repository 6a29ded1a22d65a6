"""Durations as operators write them: ``24h``, ``1h30m``, ``45s``, ``2d``; and in words."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

from babel import Locale
from babel.lists import format_list
from babel.units import format_unit

MAX_DURATION = timedelta(days=365)
"""No reminder, follow-up or interval is further off than a year; larger values are typos."""


def parse_offsets(text: str) -> tuple[timedelta, ...]:
    """``24h,1h`` → (24 h, 1 h), largest first, without duplicates or zero."""
    offsets = {parse_duration(part) for part in text.split(",") if part.strip()}
    if timedelta(0) in offsets:
        raise ValueError("a reminder offset of zero is not a reminder")
    return tuple(sorted(offsets, reverse=True))


def parse_duration(text: str) -> timedelta:
    """Parse ``24h``, ``1h30m``, ``90s``, ``2d``: units s, m, h, d, combinable."""
    cleaned = text.strip().lower()
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", cleaned)
    if not cleaned or not match:
        raise ValueError(f"{text!r} is not a duration like 24h, 1h30m, 45m or 2d")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    try:
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        duration = MAX_DURATION + timedelta(days=1)
    if duration > MAX_DURATION:
        raise ValueError(f"the duration {text!r} is longer than a year")
    return duration


OFF_WORDS = ("off", "none")


def parse_optional_duration(text: str) -> timedelta | None:
    """A duration, or None for ``off``/``none``."""
    return None if text.strip().lower() in OFF_WORDS else parse_duration(text)


def parse_optional_offsets(text: str) -> tuple[timedelta, ...]:
    """Offsets, or none at all for ``off``/``none``/empty."""
    return () if text.strip().lower() in OFF_WORDS + ("",) else parse_offsets(text)


@lru_cache(maxsize=256)
def in_words(duration: timedelta, locale: str) -> str:
    """``24 hours``, ``1 hour``, ``1 hour and 30 minutes``, ``2 days`` (for ``LOCALE``).

    Whole days of two or more read as days; anything else as hours and minutes, because
    "24 hours before" is how people say a one-day reminder. Cached: a site has a few
    offsets and locales, and babel takes 25 to 40 µs to say one in words."""
    seconds = int(duration.total_seconds())
    loc = Locale.parse(locale)
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        return format_unit(seconds // 86400, "duration-day", length="long", locale=loc)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        format_unit(value, unit, length="long", locale=loc)
        for value, unit in ((hours, "duration-hour"), (minutes, "duration-minute"), (secs, "duration-second"))
        if value
    ]
    return format_list(parts, locale=loc) if parts else format_unit(0, "duration-minute", length="long", locale=loc)
