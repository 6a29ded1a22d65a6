"""What quiet hours do to a message, decided when its delivery is applied.

- A reminder due inside the invitee's window moves to the window's end when that still
  leaves QUIET_MIN_LEAD before the start; otherwise to the last minute before the window
  begins; when neither lies between now (the planning) and the start, it is skipped with
  the reason ``quiet_hours``.
- A follow-up due inside the window moves to its end.
- A notice (confirmation, cancellation ...) goes at once, unless its kind is in
  QUIET_HOURS_APPLY_TO: then one that would go inside the window waits in rq-scheduler
  for its end. Host notices follow HOST_QUIET_HOURS in HOST_TIMEZONE.

The invitee's zone: the booking's (Calendly's invitee ``timezone``), else the zone of the
phone number when phonenumbers knows exactly one for it, else DEFAULT_TIMEZONE.
The window itself, and how its edges fall on the nights clocks change: shared/quiet_hours.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from phonenumbers import timezone as phone_zones

from shared import defaults
from shared.booking import BookingRecord
from shared.phone import parsed
from shared.quiet_hours import QuietHours
from shared.settings import Settings
from shared.vocabulary import Recipient, SmsKind

QUIET_HOURS = "quiet_hours"
"""The reason of a move (``moved`` in the job's data) and of a skip."""
EARLY_MARGIN = timedelta(seconds=defaults.QUIET_HOURS_EARLY_MARGIN)


@dataclass(frozen=True)
class Placement:
    """When a message goes: ``at``; ``moved`` (the reason) and ``wanted`` (the time it was
    due) when quiet hours moved it."""

    at: datetime
    moved: str | None = None
    wanted: datetime | None = None


def place_reminder(due: datetime, start: datetime, earliest: datetime, window: QuietHours | None, zone: ZoneInfo,
                   min_lead: timedelta) -> Placement | None:
    """Where a reminder due at ``due`` before a meeting at ``start`` goes; None: nowhere
    (skipped, ``quiet_hours``). ``earliest`` is now: nothing is planned in the past."""
    quiet = window.containing(due, zone) if window is not None else None
    if quiet is None:
        return Placement(due)
    begins, ends = quiet
    if earliest < ends <= start - min_lead:
        return Placement(ends, QUIET_HOURS, due)
    before = begins - EARLY_MARGIN
    if earliest < before:
        return Placement(before, QUIET_HOURS, due)
    return None


def place_after(due: datetime, window: QuietHours | None, zone: ZoneInfo) -> Placement:
    """A follow-up, or a notice that waits out quiet hours: at the window's end."""
    quiet = window.containing(due, zone) if window is not None else None
    return Placement(due) if quiet is None else Placement(quiet[1], QUIET_HOURS, due)


def invitee_zone(record: BookingRecord, settings: Settings) -> ZoneInfo:
    for name in (record.timezone, phone_zone(record.phone), settings.default_timezone):
        zone = _zone(name)
        if zone is not None:
            return zone
    return ZoneInfo("UTC")


def host_zone(settings: Settings) -> ZoneInfo:
    return _zone(settings.host_timezone) or _zone(settings.default_timezone) or ZoneInfo("UTC")


def phone_zone(phone: str | None) -> str | None:
    """The zone of an E.164 number when phonenumbers gives exactly one (France, Germany, a US
    area code); None for a country of several (Australia, Brazil) or an unknown range."""
    if not phone:
        return None
    number = parsed(phone)
    if number is None:
        return None
    zones = phone_zones.time_zones_for_number(number)
    return zones[0] if len(zones) == 1 and zones[0] != phone_zones.UNKNOWN_TIMEZONE else None


def notice_placement(kind: SmsKind, recipient: Recipient, record: BookingRecord, settings: Settings,
                     window: QuietHours | None, now: datetime) -> Placement:
    """A notice goes now, unless quiet hours hold it: the host's for host notices, the
    invitee's (``window``, the event type's) for the kinds QUIET_HOURS_APPLY_TO names."""
    if recipient == Recipient.HOST:
        return place_after(now, settings.host_quiet_hours, host_zone(settings))
    if kind not in settings.quiet_hours_apply_to:
        return Placement(now)
    return place_after(now, window, invitee_zone(record, settings))


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" is a tzdata folder
        return None
