"""Quiet hours: the window (crossing midnight or not, on the nights clocks change in New
York, Berlin and Sydney), where each message goes, the invitee's zone, and the whole path
through a delivery applied against a real Redis and a reminder fired by the scheduler."""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from rq import Queue
from rq.job import Job

from shared import defaults, keys, ledger, operations, stats
from shared.booking import BookingRecord
from shared.calendly import samples
from shared.quiet_hours import clock_reaches, parse_quiet_hours
from shared.settings import Settings
from shared.vocabulary import BookingStatus
from tests.helpers import console_messages
from tests.test_reminders import apply, fire, scheduled
from worker.quiet_hours import QUIET_HOURS, invitee_zone, place_after, place_reminder

UTC = timezone.utc
NY, BERLIN, SYDNEY = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin"), ZoneInfo("Australia/Sydney")
DEFAULT = parse_quiet_hours("21:00-08:00")


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("text, start, end", [
    ("21:00-08:00", time(21), time(8)),
    ("12:00-14:00", time(12), time(14)),
    (" 9:00 - 17:30 ", time(9), time(17, 30)),
    ("00:00-06:00", time(0), time(6)),
])
def test_windows_are_read_as_local_times(text, start, end):
    window = parse_quiet_hours(text)
    assert (window.start, window.end) == (start, end)


@pytest.mark.parametrize("text", ["off", "OFF", "none"])
def test_off_means_no_quiet_hours(text):
    assert parse_quiet_hours(text) is None


@pytest.mark.parametrize("text, complaint", [
    ("21-08", "not a window"), ("24:00-08:00", "24-hour clock"), ("21:00-21:00", "begins where it ends"),
    ("21:00", "not a window"),
])
def test_malformed_windows_are_refused_naming_the_variable(text, complaint):
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match=f"QUIET_HOURS .*{complaint}"):
        Settings.from_env({"QUIET_HOURS": text})


# The nights clocks change, 2026: New York 8 March (02:00 EST → 03:00 EDT) and 1 November
# (02:00 EDT → 01:00 EST); Berlin 29 March (02:00 CET → 03:00 CEST) and 25 October
# (03:00 CEST → 02:00 CET); Sydney 5 April (03:00 AEDT → 02:00 AEST) and 4 October
# (02:00 AEST → 03:00 AEDT). Each row: the window beginning on the local day, in UTC.
@pytest.mark.parametrize("zone, day, window, begins, ends", [
    # The default window over each night: ten hours when the clocks spring forward, twelve when they fall back.
    (NY, date(2026, 3, 7), "21:00-08:00", "2026-03-08 02:00", "2026-03-08 12:00"),
    (NY, date(2026, 10, 31), "21:00-08:00", "2026-11-01 01:00", "2026-11-01 13:00"),
    (BERLIN, date(2026, 3, 28), "21:00-08:00", "2026-03-28 20:00", "2026-03-29 06:00"),
    (BERLIN, date(2026, 10, 24), "21:00-08:00", "2026-10-24 19:00", "2026-10-25 07:00"),
    (SYDNEY, date(2026, 4, 4), "21:00-08:00", "2026-04-04 10:00", "2026-04-04 22:00"),
    (SYDNEY, date(2026, 10, 3), "21:00-08:00", "2026-10-03 11:00", "2026-10-03 21:00"),
    # An edge in the skipped hour: the jump itself (the first instant the clock reads past it).
    (NY, date(2026, 3, 8), "02:30-06:00", "2026-03-08 07:00", "2026-03-08 10:00"),
    (NY, date(2026, 3, 7), "23:00-02:30", "2026-03-08 04:00", "2026-03-08 07:00"),
    (BERLIN, date(2026, 3, 29), "02:30-07:00", "2026-03-29 01:00", "2026-03-29 05:00"),
    (SYDNEY, date(2026, 10, 4), "02:30-07:00", "2026-10-03 16:00", "2026-10-03 20:00"),
    # An edge in the repeated hour: its first occurrence.
    (NY, date(2026, 11, 1), "01:30-06:00", "2026-11-01 05:30", "2026-11-01 11:00"),
    (NY, date(2026, 10, 31), "23:00-01:30", "2026-11-01 03:00", "2026-11-01 05:30"),
    (BERLIN, date(2026, 10, 25), "02:30-07:00", "2026-10-25 00:30", "2026-10-25 06:00"),
    (SYDNEY, date(2026, 4, 5), "02:30-07:00", "2026-04-04 15:30", "2026-04-04 21:00"),
    # Not crossing midnight, on an ordinary day.
    (BERLIN, date(2026, 12, 2), "12:00-14:00", "2026-12-02 11:00", "2026-12-02 13:00"),
])
def test_windows_follow_the_zone_rules_on_the_nights_clocks_change(zone, day, window, begins, ends):
    assert parse_quiet_hours(window).on(day, zone) == (utc(begins), utc(ends))


@pytest.mark.parametrize("zone, moment, window, inside", [
    (NY, "2026-03-08 06:30", "21:00-08:00", ("2026-03-08 02:00", "2026-03-08 12:00")),  # 01:30 EST
    (NY, "2026-03-08 12:00", "21:00-08:00", None),  # 08:00 EDT: the window has ended
    (NY, "2026-11-01 05:45", "23:00-01:30", None),  # 01:45 EDT, after the first 01:30
    (NY, "2026-11-01 06:15", "23:00-01:30", None),  # 01:15 EST, the repeated hour: quiet once only
    (NY, "2026-11-01 05:15", "23:00-01:30", ("2026-11-01 03:00", "2026-11-01 05:30")),  # 01:15 EDT
    (BERLIN, "2026-12-02 12:30", "12:00-14:00", ("2026-12-02 11:00", "2026-12-02 13:00")),
    (BERLIN, "2026-12-02 20:30", "12:00-14:00", None),
    (SYDNEY, "2026-10-03 20:59", "21:00-08:00", ("2026-10-03 11:00", "2026-10-03 21:00")),
])
def test_a_moment_is_inside_one_window_or_none(zone, moment, window, inside):
    found = parse_quiet_hours(window).containing(utc(moment), zone)
    assert found == (tuple(utc(edge) for edge in inside) if inside else None)


def test_the_same_edge_always_resolves_to_the_same_instant():
    assert {clock_reaches(date(2026, 3, 8), time(2, 30), NY) for _ in range(3)} == {utc("2026-03-08 07:00")}


LEAD = timedelta(minutes=15)


# Local times in New York on 3 December 2026 (EST, UTC-5); "now" is when the booking is applied.
@pytest.mark.parametrize("window, start, offset, now, placed", [
    ("21:00-08:00", "2026-12-03 08:45", "1h", "2026-12-01 12:00", "2026-12-03 08:00"),   # to the window's end
    ("21:00-08:00", "2026-12-03 08:15", "1h", "2026-12-01 12:00", "2026-12-03 08:00"),   # exactly the least lead
    ("21:00-08:00", "2026-12-03 08:10", "1h", "2026-12-01 12:00", "2026-12-02 20:59"),   # too close: before it
    ("21:00-08:00", "2026-12-03 23:30", "1h", "2026-12-01 12:00", "2026-12-03 20:59"),   # ends after the start
    ("21:00-08:00", "2026-12-03 08:10", "1h", "2026-12-02 22:00", None),                 # booked at night: skipped
    ("21:00-08:00", "2026-12-03 15:00", "24h", "2026-12-01 12:00", "2026-12-02 15:00"),  # outside: unchanged
    ("12:00-14:00", "2026-12-03 14:30", "1h", "2026-12-01 12:00", "2026-12-03 14:00"),   # not crossing midnight
    ("12:00-14:00", "2026-12-03 14:05", "1h", "2026-12-01 12:00", "2026-12-03 11:59"),
])
def test_a_reminder_moves_out_of_quiet_hours_or_is_skipped(window, start, offset, now, placed):
    from shared.durations import parse_duration

    local = lambda text: datetime.fromisoformat(text).replace(tzinfo=NY)  # noqa: E731
    due = local(start) - parse_duration(offset)
    placement = place_reminder(due, local(start), local(now), parse_quiet_hours(window), NY, LEAD)
    if placed is None:
        assert placement is None
        return
    assert placement.at == local(placed)
    assert (placement.moved, placement.wanted) == ((None, None) if placement.at == due else (QUIET_HOURS, due))


# The 1 h reminder of an 08:45 meeting on the mornings after the clocks change: 08:00 local
# time, whatever the offset that night; the lead it says is 45 minutes each time.
@pytest.mark.parametrize("zone, start, placed", [
    (NY, "2026-03-08 12:45", "2026-03-08 12:00"),       # 08:45 EDT, the morning after springing forward
    (NY, "2026-11-01 13:45", "2026-11-01 13:00"),       # 08:45 EST, after falling back
    (BERLIN, "2026-03-29 06:45", "2026-03-29 06:00"),   # 08:45 CEST
    (BERLIN, "2026-10-25 07:45", "2026-10-25 07:00"),   # 08:45 CET
    (SYDNEY, "2026-04-04 22:45", "2026-04-04 22:00"),   # 08:45 AEST on 5 April
    (SYDNEY, "2026-10-03 21:45", "2026-10-03 21:00"),   # 08:45 AEDT on 4 October
])
def test_reminders_move_to_the_local_morning_on_the_nights_clocks_change(zone, start, placed):
    placement = place_reminder(utc(start) - timedelta(hours=1), utc(start), utc("2026-01-01 00:00"), DEFAULT, zone,
                               LEAD)
    assert placement.at == utc(placed) and placement.at.astimezone(zone).strftime("%H:%M") == "08:00"
    assert utc(start) - placement.at == timedelta(minutes=45)


@pytest.mark.parametrize("due, placed", [
    ("2026-12-03 21:15", "2026-12-04 08:00"), ("2026-12-04 07:59", "2026-12-04 08:00"),
    ("2026-12-03 20:59", "2026-12-03 20:59"), ("2026-12-04 08:00", "2026-12-04 08:00"),
])
def test_a_follow_up_inside_the_window_moves_to_its_end(due, placed):
    local = lambda text: datetime.fromisoformat(text).replace(tzinfo=NY)  # noqa: E731
    assert place_after(local(due), DEFAULT, NY).at == local(placed)


@pytest.mark.parametrize("tz, phone, default, zone", [
    ("Europe/Berlin", "+33 6 12 34 56 78", "UTC", "Europe/Berlin"),     # the booking's zone first
    (None, "+33 6 12 34 56 78", "UTC", "Europe/Paris"),                # France has one zone
    (None, "+1 404-555-1234", "UTC", "America/New_York"),              # so has the 404 area code
    (None, "+61 412 345 678", "Asia/Tokyo", "Asia/Tokyo"),             # Australia has several: the default
    ("Not/AZone", "+49 170 1234567", "UTC", "Europe/Berlin"),          # an unknown zone is no zone
    (None, None, "Europe/Madrid", "Europe/Madrid"),
])
def test_the_invitees_zone_booking_then_phone_then_default(tz, phone, default, zone):
    from shared.phone import normalize

    record = BookingRecord("uri", BookingStatus.ACTIVE, timezone=tz, phone=normalize(phone))
    assert invitee_zone(record, Settings(default_timezone=default)) == ZoneInfo(zone)


# --- Through a delivery, against Redis -------------------------------------------------

def next_local(hour, minute, zone=NY, days=2):
    """A start ``days`` local days ahead at hour:minute in ``zone`` (UTC)."""
    day = datetime.now(zone).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def window_around_now(zone, before=timedelta(hours=1), after=timedelta(hours=3)):
    local = datetime.now(zone)
    return f"{local - before:%H:%M}-{local + after:%H:%M}"


def quiet(monkeypatch, **variables):
    from worker import context

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    context.reset()


def test_a_reminder_moved_out_of_quiet_hours_fires_at_the_windows_end_with_its_real_lead(conn, monkeypatch, caplog):
    quiet(monkeypatch, QUIET_HOURS="21:00-08:00", REMINDER_OFFSETS="1h", FOLLOWUP_DELAY="off")
    start = next_local(8, 45)
    apply(conn, "invitee.created", samples.invitee_payload(start=start))
    [(job_id, due)] = scheduled(conn).items()
    assert due == start - timedelta(minutes=45)  # 08:00 New York time
    [event_job] = [job for job in Queue(defaults.EVENTS_QUEUE, connection=conn).finished_job_registry.get_job_ids()]
    assert Job.fetch(event_job, connection=conn).return_value()["moved"] == [job_id]  # in the log line too
    data = Job.fetch(job_id, connection=conn).args[0]
    assert data["moved"] == QUIET_HOURS and data["due"] == int(due.timestamp())
    assert data["wanted"] == int((start - timedelta(hours=1)).timestamp())
    [listed] = operations.upcoming(conn)
    assert listed.moved == QUIET_HOURS and listed.move.startswith("moved from ") and "(quiet_hours)" in listed.move
    entry = ledger.load(conn, data["message"])  # the ledger says when and why
    assert (entry.state, entry.due, entry.events[-1].detail["moved"]) == ("planned", data["due"], QUIET_HOURS)
    fire(conn, job_id)
    [reminder] = [m for m in console_messages(caplog) if m["kind"] == "reminder"]
    assert reminder["params"]["advance"] == "45 minutes"


def test_a_reminder_with_no_room_outside_quiet_hours_is_skipped_and_counted(conn, monkeypatch):
    quiet(monkeypatch, QUIET_HOURS=window_around_now(NY), REMINDER_OFFSETS="1h", FOLLOWUP_DELAY="off")
    apply(conn, "invitee.created", samples.invitee_payload(start=datetime.now(UTC) + timedelta(hours=2)))
    assert scheduled(conn) == {}
    assert stats.read(conn, "sms")[("reminder", "skipped", QUIET_HOURS)] == 1


def test_two_reminders_moved_onto_one_time_go_as_one(conn, monkeypatch):
    quiet(monkeypatch, QUIET_HOURS="21:00-08:00", REMINDER_OFFSETS="2h,1h", FOLLOWUP_DELAY="off")
    start = next_local(9, 0)
    apply(conn, "invitee.created", samples.invitee_payload(start=start))
    assert list(scheduled(conn).values()) == [start - timedelta(hours=1)]  # 08:00, the 1 h reminder
    assert stats.read(conn, "sms")[("reminder", "skipped", QUIET_HOURS)] == 1
    states = {(m.offset, m.state, m.reason) for m in ledger.for_booking(conn, samples_uri(conn))}
    assert {(7200, "skipped", QUIET_HOURS), (3600, "planned", None)} <= states


@pytest.mark.parametrize("apply_to, moved", [("reminder,followup", True), ("followup", False), ("off", False)])
def test_quiet_hours_apply_to_the_kinds_listed(conn, monkeypatch, apply_to, moved):
    quiet(monkeypatch, QUIET_HOURS="21:00-08:00", QUIET_HOURS_APPLY_TO=apply_to, REMINDER_OFFSETS="1h",
          FOLLOWUP_DELAY="off")
    start = next_local(8, 45)
    apply(conn, "invitee.created", samples.invitee_payload(start=start))
    assert list(scheduled(conn).values()) == [start - timedelta(minutes=45 if moved else 60)]


def test_a_follow_up_in_quiet_hours_waits_for_the_morning(conn, monkeypatch):
    quiet(monkeypatch, QUIET_HOURS="21:00-08:00", REMINDER_OFFSETS="off", FOLLOWUP_DELAY="30m")
    start = next_local(20, 30)
    apply(conn, "invitee.created", samples.invitee_payload(start=start, duration=timedelta(minutes=30)))
    [due] = scheduled(conn).values()
    assert due == next_local(8, 0, days=3)


@pytest.mark.parametrize("config, variable, moved", [
    ({"quiet_hours": "off"}, "21:00-08:00", False),
    ({"quiet_hours": "21:00-08:00"}, "off", True),
    ({}, "off", False),
])
def test_an_event_type_sets_its_own_quiet_hours(conn, monkeypatch, tmp_path, config, variable, moved):
    import yaml

    path = tmp_path / "relay.yml"
    path.write_text(yaml.safe_dump({"event_types": {"30 Minute Meeting": config}}))
    quiet(monkeypatch, QUIET_HOURS=variable, REMINDER_OFFSETS="1h", FOLLOWUP_DELAY="off", RELAY_CONFIG=str(path))
    start = next_local(8, 45)
    apply(conn, "invitee.created", samples.invitee_payload(start=start))
    assert list(scheduled(conn).values()) == [start - timedelta(minutes=45 if moved else 60)]


def test_notices_go_at_once_unless_quiet_hours_apply_to_their_kind(conn, monkeypatch, caplog):
    quiet(monkeypatch, QUIET_HOURS=window_around_now(NY), REMINDER_OFFSETS="off", FOLLOWUP_DELAY="off")
    apply(conn, "invitee.created", samples.invitee_payload(phone="+1 404-555-0101"))
    assert [m["kind"] for m in console_messages(caplog)] == ["confirm"]
    caplog.clear()
    quiet(monkeypatch, QUIET_HOURS_APPLY_TO="reminder,followup,confirm")
    apply(conn, "invitee.created", samples.invitee_payload(phone="+1 404-555-0102"))
    assert console_messages(caplog) == []
    [(job_id, due)] = scheduled(conn).items()
    window_end = parse_quiet_hours(window_around_now(NY)).containing(datetime.now(UTC), NY)[1]
    assert abs((due - window_end).total_seconds()) <= 60
    assert Job.fetch(job_id, connection=conn).args[0]["moved"] == QUIET_HOURS
    fire(conn, job_id)
    assert [m["kind"] for m in console_messages(caplog)] == ["confirm"]


def test_host_notices_follow_the_hosts_quiet_hours(conn, monkeypatch, caplog):
    berlin_window = window_around_now(BERLIN)
    quiet(monkeypatch, QUIET_HOURS="off", HOST_QUIET_HOURS=berlin_window, HOST_TIMEZONE="Europe/Berlin",
          HOST_PHONE="+1 404-555-0199", REMINDER_OFFSETS="off", FOLLOWUP_DELAY="off")
    apply(conn, "invitee.created", samples.invitee_payload())
    assert [m["kind"] for m in console_messages(caplog)] == ["confirm"]  # the invitee's at once
    [(job_id, due)] = scheduled(conn).items()
    assert job_id.startswith("sms-") and due > datetime.now(UTC) + timedelta(hours=2)
    [listed] = operations.upcoming(conn)
    assert listed.kind == "host_notify" and listed.moved == QUIET_HOURS
    fire(conn, job_id)
    assert [m["kind"] for m in console_messages(caplog)] == ["confirm", "host_notify"]


def test_moves_show_in_relay_reminders_list_and_admin(conn, redis_url, monkeypatch):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers import SIGNING_KEY
    from web.app import create_app

    quiet(monkeypatch, QUIET_HOURS="21:00-08:00", REMINDER_OFFSETS="1h", FOLLOWUP_DELAY="off")
    start = next_local(8, 45)
    apply(conn, "invitee.created", samples.invitee_payload(start=start))
    wanted = f"moved from {start - timedelta(hours=1):%Y-%m-%d %H:%M} UTC (quiet_hours)"
    listing = subprocess.run([str(Path(sys.executable).parent / "relay"), "reminders", "list"],
                             env=dict(os.environ, REDIS_URL=redis_url), capture_output=True, text=True, timeout=60)
    assert f"{start - timedelta(minutes=45):%Y-%m-%d %H:%M:%S} UTC  reminder" in listing.stdout
    assert wanted in listing.stdout
    admin = create_app(Settings(signing_key=SIGNING_KEY, admin_token="admin-page-token"), redis_client=conn)
    page = admin.test_client().get("/admin", headers={"Authorization": "Bearer admin-page-token"})
    assert wanted in page.get_data(as_text=True)


def samples_uri(conn) -> str:
    """The one booking these tests make."""
    [uri] = [u.decode() for u in conn.zrange(keys.UPCOMING, 0, -1)]
    return uri
