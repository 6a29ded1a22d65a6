from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from shared.timefmt import format_meeting_time, zone_or_default

START = datetime(2026, 11, 24, 20, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "zone, locale, text",
    [
        ("America/New_York", "en_US", "Tue, Nov 24, 2026, 3:00 PM EST"),
        ("Europe/Berlin", "de_DE", "Di., 24. Nov. 2026, 21:00 MEZ"),
        # The CLDR 49 data of babel 2.19 gives en_IN its short zone name and "AM"; older data said
        # "1:30 am +0530". The text follows the locale data: the lock pins babel, so it moves
        # only when a lock refresh moves babel, and then this case says so.
        ("Asia/Kolkata", "en_IN", "Wed, 25 Nov 2026, 1:30 AM IST"),
        ("Asia/Tokyo", "ja_JP", "2026年11月25日(水) 5:00 JST"),
    ],
)
def test_start_in_the_invitees_zone_and_locale(zone, locale, text):
    assert format_meeting_time(START, ZoneInfo(zone), locale) == text


def test_missing_or_unknown_zone_falls_back():
    assert zone_or_default(None, "UTC") == ZoneInfo("UTC")
    assert zone_or_default("Mars/Olympus", "Europe/Paris") == ZoneInfo("Europe/Paris")


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        format_meeting_time(datetime(2026, 1, 1), ZoneInfo("UTC"), "en_US")


def test_a_tzdata_folder_name_is_not_a_zone():
    assert zone_or_default("America", "UTC") == ZoneInfo("UTC")
    assert zone_or_default("x" * 300, "UTC") == ZoneInfo("UTC")


def test_times_use_plain_spaces_so_sms_stay_gsm7():
    text = format_meeting_time(START, ZoneInfo("America/New_York"), "en_US")
    assert text.isascii()


def test_the_text_depends_on_the_instant_zone_and_locale_only():
    """format_meeting_time is cached by (instant, zone, locale): the same instant written in
    another offset gives the same text, and another zone or locale never reuses it."""
    from datetime import timedelta

    tokyo = START.astimezone(timezone(timedelta(hours=9)))
    assert format_meeting_time(tokyo, ZoneInfo("America/New_York"), "en_US") == "Tue, Nov 24, 2026, 3:00 PM EST"
    assert format_meeting_time(tokyo, ZoneInfo("America/Chicago"), "en_US") == "Tue, Nov 24, 2026, 2:00 PM CST"
    assert format_meeting_time(START + timedelta(minutes=1), ZoneInfo("America/New_York"), "en_US").endswith(
        "3:01 PM EST")
