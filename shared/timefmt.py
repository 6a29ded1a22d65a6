"""Times for people: the meeting start in the invitee's own zone, in ``LOCALE``."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates

PLAIN_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " "})


def zone_or_default(name: str | None, default: str) -> ZoneInfo:
    """The invitee's zone, or ``default`` when Calendly sent none or an unknown one."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" is a tzdata folder
            pass
    return ZoneInfo(default)


def format_meeting_time(start: datetime, zone: ZoneInfo, locale: str) -> str:
    """``Tue, Nov 24, 2026, 3:00 PM EST`` (en_US); ``Di., 24. Nov. 2026, 21:00 MEZ`` (de_DE)."""
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    return _formatted(start, zone, locale)


@lru_cache(maxsize=4096)
def _formatted(start: datetime, zone: ZoneInfo, locale: str) -> str:
    # Cached: babel costs about 40 µs a message, and the messages due together are mostly
    # about meetings that start together (a webinar's reminders, a booking's confirmation
    # and its host's notice). The text depends only on the instant, the zone and the
    # locale, which are the key (aware datetimes at the same instant are equal).
    loc = Locale.parse(locale)
    local = start.astimezone(zone)
    date_part = babel_dates.format_skeleton("yMMMEd", local, tzinfo=zone, locale=loc)
    time_part = babel_dates.format_time(local, "short", tzinfo=zone, locale=loc)
    zone_part = babel_dates.format_datetime(local, "z", tzinfo=zone, locale=loc)
    combined = loc.datetime_formats["medium"].format(time_part, date_part)
    # CLDR puts narrow no-break spaces before AM/PM; outside GSM-7 they would turn every
    # SMS into UCS-2 (70 characters a segment instead of 160).
    return f"{combined} {zone_part}".translate(PLAIN_SPACES)
