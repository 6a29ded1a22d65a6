"""Quiet hours: a daily window of local time in which no message is sent (``21:00-08:00``).

A window is read in a time zone, with that zone's rules (zoneinfo), day by day: on the
day D it begins at its start and ends at its end (on D+1 when it crosses midnight). Each
edge is the first instant at which the local clock reads at least the edge's time:

- an edge inside an hour the clocks skip (02:30 on the night New York springs forward)
  is the moment of the jump, 03:00 local time (07:00 UTC): from then on the clock reads
  past 02:30;
- an edge inside an hour the clocks repeat (01:30 on the night New York falls back) is
  its first occurrence (01:30 EDT, 05:30 UTC).

So a window is always one interval of instants, never quiet twice nor skipped, and the
same inputs always give the same instants. Nothing here knows of bookings or messages:
worker/quiet_hours.py decides what a window does to each message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from shared.durations import OFF_WORDS

WINDOW_FORMAT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def containing(self, moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
        """(begin, end) in UTC of the window ``moment`` falls in, or None when it is outside
        every window. The window that contains it began on its local day or the day before."""
        if moment.tzinfo is None:
            raise ValueError("moment must be an aware datetime")
        today = moment.astimezone(zone).date()
        for day in (today - timedelta(days=1), today):
            begin, end = self.on(day, zone)
            if begin <= moment < end:
                return begin, end
        return None

    def on(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The window that begins on the local ``day``, as UTC instants."""
        end_day = day + timedelta(days=1) if self.crosses_midnight else day
        return clock_reaches(day, self.start, zone), clock_reaches(end_day, self.end, zone)


def parse_quiet_hours(text: str) -> QuietHours | None:
    """``21:00-08:00`` (crossing midnight), ``12:00-14:00``; ``off`` (or ``none``) for none."""
    if text.strip().lower() in OFF_WORDS:
        return None
    match = WINDOW_FORMAT.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a window like 21:00-08:00 (or off)")
    hour1, minute1, hour2, minute2 = (int(part) for part in match.groups())
    try:
        window = QuietHours(time(hour1, minute1), time(hour2, minute2))
    except ValueError:
        raise ValueError(f"{text!r} has a time that is not on a 24-hour clock (00:00 to 23:59)") from None
    if window.start == window.end:
        raise ValueError(f"{text!r} begins where it ends: write off for no quiet hours")
    return window


def clock_reaches(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the clock of ``zone`` reads ``wall`` or later on ``day``."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # it exists; in a repeated hour, fold=0 is its first occurrence
    # Skipped by a jump forward: fold=1 reads it with the offset after the jump (an instant
    # before the jump), fold=0 with the one before (an instant after it). The jump lies in
    # between; find it to the second.
    before = naive.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)
    after = first
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            after = middle
        else:
            before = middle
    return _whole_second_at_or_after(after, naive, zone)


def _whole_second_at_or_after(moment: datetime, naive: datetime, zone: ZoneInfo) -> datetime:
    """Jumps happen on whole seconds; the bisection lands within one of it."""
    floor = moment.replace(microsecond=0)
    return floor if floor.astimezone(zone).replace(tzinfo=None) >= naive else floor + timedelta(seconds=1)
