"""The message ledger (shared/ledger.py) against a real Redis: state ordering whatever the
order of arrival, matching provider statuses, orphans, retention, the booking's phone index,
and what it stores (no clear number or e-mail) and costs (bytes per event)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from shared import defaults, keys, ledger, stats
from shared.booking import BookingRecord, BookingStore
from shared.settings import Settings
from shared.errors import ConfigError
from shared.vocabulary import BookingStatus, LedgerEvent

URI = "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA"
PHONE = "+14045551234"
KEY = f"sms|reminder|3600|{URI}"


def plan(conn, message_id, at=None, **extra):
    ledger.record(conn, message_id, LedgerEvent.PLANNED, at=at, booking=URI, kind="reminder", offset=3600,
                  to=PHONE, template="tpl-1", due=2_000_000_000, **extra)


@pytest.fixture(autouse=True)
def default_retention():
    yield
    ledger.configure(defaults.DEFAULT_LEDGER_RETENTION)


def test_message_id_is_stable_short_hex():
    first = ledger.message_id(KEY)
    assert first == ledger.message_id(KEY) and re.fullmatch(r"[0-9a-f]{16}", first)
    assert ledger.message_id(KEY.replace("3600", "86400")) != first


def test_a_message_story_from_plan_to_delivery(conn):
    mid = ledger.message_id(KEY)
    plan(conn, mid, at=100.0)
    ledger.record(conn, mid, "sent", at=200.0, provider_id="el-1")
    ledger.record(conn, mid, "delivered", at=300.0)
    message = ledger.load(conn, mid)
    assert (message.booking, message.kind, message.offset, message.template, message.due) == \
        (URI, "reminder", 3600, "tpl-1", 2_000_000_000)
    assert message.to == "+1404*****34" and message.provider_id == "el-1"
    assert message.state == "delivered" and [e.name for e in message.events] == ["planned", "sent", "delivered"]
    assert message.events[1].detail == {}  # the provider id is kept once, on the entry
    assert [m.id for m in ledger.for_booking(conn, URI)] == [mid]
    counts = stats.read(conn, "messages")
    assert counts == {("reminder", "planned", ""): 1, ("reminder", "sent", ""): 1, ("reminder", "delivered", ""): 1}


@pytest.mark.parametrize("order", [
    ["planned", "sent", "delivered"], ["delivered", "sent", "planned"], ["sent", "delivered", "planned"],
    ["delivered", "planned", "sent"],
])
def test_state_is_the_furthest_along_whatever_the_order_of_arrival(conn, order):
    mid = ledger.message_id(KEY)
    times = {"planned": 100.0, "sent": 200.0, "delivered": 300.0}
    for name in order:
        if name == "planned":
            plan(conn, mid, at=times[name])
        else:
            ledger.record(conn, mid, name, at=times[name], **({"provider_id": "el-1"} if name == "sent" else {}))
    message = ledger.load(conn, mid)
    assert message.state == "delivered"
    assert [e.name for e in message.events] == ["planned", "sent", "delivered"]  # in time order
    assert message.kind == "reminder" and message.provider_id == "el-1"


def test_delivered_beats_a_plain_failure_but_not_delivered_failed(conn):
    first, second = ledger.message_id("a"), ledger.message_id("b")
    for mid in (first, second):
        plan(conn, mid, at=1.0)
        ledger.record(conn, mid, "sent", at=2.0, provider_id=f"p-{mid}")
    ledger.record(conn, first, "failed", at=3.0, code="4001", reason="sent_failed")
    ledger.record(conn, first, "delivered", at=4.0)
    assert ledger.load(conn, first).state == "delivered"
    ledger.record(conn, second, "delivered", at=3.0)
    ledger.record(conn, second, "failed", at=4.0, code="5002", reason="delivered_failed")
    ledger.record(conn, second, "delivered", at=5.0)
    loaded = ledger.load(conn, second)
    assert (loaded.state, loaded.reason) == ("failed", "5002")


def test_skips_are_final_unless_sent_or_planned_again_later(conn):
    mid = ledger.message_id(KEY)
    plan(conn, mid, at=10.0)
    ledger.record(conn, mid, "skipped", at=20.0, reason="opted_out")
    plan(conn, mid, at=15.0)  # an older plan arriving late changes nothing
    assert (ledger.load(conn, mid).state, ledger.load(conn, mid).reason) == ("skipped", "opted_out")
    plan(conn, mid, at=30.0, moved="quiet_hours")
    assert ledger.load(conn, mid).state == "planned"
    ledger.record(conn, mid, "skipped", at=40.0, reason="daily_cap")
    ledger.record(conn, mid, "sent", at=50.0, provider_id="x")  # a replay sent it after all
    assert ledger.load(conn, mid).state == "sent"
    ledger.record(conn, mid, "opted_out", at=60.0)
    assert ledger.load(conn, mid).state == "sent"
    assert ledger.load(conn, mid).events[3].detail == {"due": 2_000_000_000, "moved": "quiet_hours"}


def test_a_duplicated_event_is_kept_once_and_counted_once(conn):
    mid = ledger.message_id(KEY)
    plan(conn, mid, at=1.0)
    for _ in range(3):
        ledger.record(conn, mid, "delivered", at=5.0)
    assert [e.name for e in ledger.load(conn, mid).events] == ["planned", "delivered"]
    assert stats.read(conn, "messages")[("reminder", "delivered", "")] == 1


def test_record_joins_a_transaction(conn):
    mid = ledger.message_id(KEY)
    with conn.pipeline() as pipe:
        pipe.multi()
        pipe.set("other", "1")
        plan(pipe, mid)
        assert ledger.load(conn, mid) is None
        pipe.execute()
    assert ledger.load(conn, mid).state == "planned"


def test_status_matched_by_relay_message_then_provider_id(conn):
    mid = ledger.message_id(KEY)
    plan(conn, mid, at=1.0)
    ledger.record(conn, mid, "sent", at=2.0, provider_id="el-9")
    assert ledger.record_status(conn, relay_message=mid, provider_id="other", event="delivered", at=3.0) == mid
    other = ledger.message_id("sms|confirm|invitee|" + URI)
    plan(conn, other, at=1.0)
    ledger.attach_provider_id(conn, other, "el-10")
    assert ledger.record_status(conn, relay_message=None, provider_id="el-10", event="failed", at=4.0,
                                code="3002", reason="target_invalid") == other
    assert ledger.load(conn, other).state == "failed" and ledger.load(conn, other).reason == "3002"


def test_a_status_before_the_send_is_recorded_waits_for_it(conn):
    mid = ledger.message_id(KEY)
    plan(conn, mid, at=1.0)
    assert ledger.record_status(conn, relay_message=None, provider_id="el-5", event="delivered", at=3.0) is None
    assert [o.provider_id for o in ledger.orphans(conn)] == ["el-5"]
    assert stats.read(conn, "ledger_orphans") == {("delivered",): 1}
    ledger.record(conn, mid, "sent", at=2.0, provider_id="el-5")
    message = ledger.load(conn, mid)
    assert message.state == "delivered" and [e.name for e in message.events] == ["planned", "sent", "delivered"]
    assert not conn.exists(keys.ledger_waiting("el-5"))


def test_an_event_before_the_plan_keeps_its_place(conn):
    mid = ledger.message_id(KEY)
    assert ledger.record_status(conn, relay_message=mid, provider_id=None, event="delivered", at=3.0) == mid
    assert ledger.load(conn, mid).kind is None
    plan(conn, mid, at=1.0)
    assert ledger.load(conn, mid).state == "delivered" and ledger.load(conn, mid).kind == "reminder"


def test_unknown_status_is_an_orphan_without_clear_numbers(conn):
    assert ledger.record_status(conn, relay_message="not-ours", provider_id=None, event="failed",
                                code="1", reason="number +4915112345678 is blocked") is None
    orphan = ledger.orphans(conn)[0]
    assert PHONE not in str(orphan) and "+4915112345678" not in str(orphan)


def test_recent_filters_by_state_kind_since_and_booking(conn):
    now = time.time()
    ids = []
    for index, (kind, final) in enumerate([("confirm", "sent"), ("reminder", "skipped"), ("followup", "failed")]):
        mid = ledger.message_id(f"sms|{kind}|x|{URI}")
        ids.append(mid)
        ledger.record(conn, mid, "planned", at=now - 100 + index, booking=URI, kind=kind, to=PHONE)
        ledger.record(conn, mid, final, at=now - 50 + index, reason="r")
    assert [m.id for m in ledger.recent(conn)] == list(reversed(ids))
    assert [m.id for m in ledger.recent(conn, state="skipped")] == [ids[1]]
    assert [m.id for m in ledger.recent(conn, kind="followup")] == [ids[2]]
    assert ledger.recent(conn, since=now) == []
    assert len(ledger.recent(conn, booking=URI, state="sent")) == 1
    assert ledger.recent(conn, booking="https://api.calendly.com/scheduled_events/X/invitees/Y") == []
    assert len(ledger.recent(conn, limit=2)) == 2


def test_entries_expire_after_the_retention(conn):
    ledger.configure(3600)
    mid = ledger.message_id(KEY)
    plan(conn, mid)
    ledger.record(conn, mid, "sent", provider_id="p")
    for key in (keys.ledger_message(mid), keys.ledger_booking(URI), keys.ledger_provider("p")):
        assert 3590 < conn.ttl(key) <= 3600
    ledger.configure(100)
    old = ledger.message_id("old")
    ledger.record(conn, old, "planned", at=time.time() - 500, kind="confirm")
    plan(conn, mid)
    assert conn.zscore(keys.LEDGER_RECENT, old) is None  # trimmed from the index


def test_ledger_retention_setting():
    assert Settings.from_env({}).ledger_retention == 90 * 86400
    assert Settings.from_env({"LEDGER_RETENTION": "30d"}).ledger_retention == 30 * 86400
    for wrong in ("off", "forever", "400d"):
        with pytest.raises(ConfigError, match="LEDGER_RETENTION"):
            Settings.from_env({"LEDGER_RETENTION": wrong})


def test_nothing_stored_holds_a_clear_number_or_address(conn):
    now = datetime.now(timezone.utc)
    record = BookingRecord(URI, BookingStatus.ACTIVE, email="jane@example.com", phone=PHONE,
                           start=now + timedelta(days=1))
    mid = ledger.message_id(KEY)
    plan(conn, mid)
    ledger.record(conn, mid, "failed", code="3002", reason=f"invalid number {PHONE} for jane@example.com")
    ledger.record_status(conn, relay_message=None, provider_id="zz", event="failed", reason=f"to {PHONE}")
    BookingStore(conn).save(record, now)
    booking_keys = {keys.booking(URI).encode()}
    for key in conn.scan_iter("*"):
        if key in booking_keys:
            continue  # the booking record itself keeps the number, to text it
        assert PHONE.encode() not in key and b"4045551234" not in key
        dump = conn.dump(key)
        assert b"4045551234" not in dump and b"jane@example.com" not in dump, key


MESSAGES = (("confirm", "invitee", None), ("host_notify", "host", None), ("reminder", 86400, 86400),
            ("reminder", 3600, 3600), ("followup", "after", None))


@pytest.mark.parametrize("pending", [True, False], ids=["reminders pending", "all delivered"])
def test_bytes_per_event(conn, pending):
    """The figure the ledger is sized by: Redis memory per event, indexes included, for
    bookings of five messages with Calendly's real (UUID) URIs and EngageLab's 19-digit ids:
    while the reminders are pending (9 events a booking) and once all went (15)."""
    events = 0
    for index in range(200):
        uri = (f"https://api.calendly.com/scheduled_events/{index:08d}-aaaa-4bbb-8ccc-dddddddddddd"
               f"/invitees/{index:08d}-eeee-4fff-8000-111111111111")
        for kind, slot, offset in MESSAGES:
            mid = ledger.message_id(f"sms|{kind}|{slot}|{uri}")
            ledger.record(conn, mid, "planned", booking=uri, kind=kind, offset=offset, to=PHONE, template="1234567",
                          due=1_764_000_000)
            events += 1
            if pending and kind in ("reminder", "followup"):
                continue
            ledger.record(conn, mid, "sent", provider_id=f"197248899{index:06d}{len(kind):02d}{offset or 0}"[:19])
            ledger.record(conn, mid, "delivered")
            events += 2
    used = sum(conn.memory_usage(key, samples=0) or 0 for key in conn.scan_iter("relay:*")
               if not key.startswith(stats.PREFIX.encode()))
    per_event = used / events
    print(f"ledger: {per_event:.0f} bytes per event ({used // 200} bytes per booking, {events // 200} events)")
    assert per_event <= 300
    assert ledger.load(conn, mid).template == "1234567"  # an id, not a number to mask


def test_upcoming_for_phone(conn):
    now = datetime.now(timezone.utc)
    store = BookingStore(conn)
    later = BookingRecord(URI, BookingStatus.ACTIVE, phone=PHONE, start=now + timedelta(days=3))
    sooner = BookingRecord(URI + "B", BookingStatus.ACTIVE, phone=PHONE, start=now + timedelta(days=1))
    past = BookingRecord(URI + "C", BookingStatus.ACTIVE, phone=PHONE, start=now - timedelta(hours=1))
    other = BookingRecord(URI + "D", BookingStatus.ACTIVE, phone="+14045550000", start=now + timedelta(days=1))
    for record in (later, sooner, past, other):
        store.save(record, now)
    assert [r.invitee_uri for r in store.upcoming_for_phone(PHONE, now)] == [sooner.invitee_uri, URI]
    assert conn.ttl(keys.bookings_by_phone(PHONE)) > 3 * 86400 - 10  # not shortened by the sooner one
    store.save(sooner.evolve(status=BookingStatus.CANCELED), now)
    store.save(later.evolve(phone="+14045559999"), now)  # the number changed
    assert store.upcoming_for_phone(PHONE, now) == []
    assert [r.invitee_uri for r in store.upcoming_for_phone("+14045559999", now)] == [URI]


def test_the_phone_and_e_mail_indexes_stay_in_redis_compact_encoding(conn):
    # An invitee URI as a member (110 bytes, over Redis's 64) turned each one-booking index
    # into a skiplist of about 1 KB, kept as long as the booking record (bench/steady_state.py).
    now = datetime.now(timezone.utc)
    record = BookingRecord(URI, BookingStatus.ACTIVE, phone=PHONE, email="sam@example.com",
                           start=now + timedelta(days=3))
    BookingStore(conn).save(record, now)
    for key in (keys.bookings_by_phone(PHONE), keys.bookings_by_email("sam@example.com")):
        assert conn.object("encoding", key) in (b"listpack", b"ziplist")
        assert conn.memory_usage(key, samples=0) < 300
    assert [r.invitee_uri for r in BookingStore(conn).upcoming_for_phone(PHONE, now)] == [URI]
    assert BookingStore(conn).for_email("SAM@example.com", now) == [URI]


@pytest.mark.parametrize("uri", [
    "https://api.calendly.com/scheduled_events/0f3c2a4e-1b2d-4c5e-8f70-123456789abc/invitees/9e8d7c6b-5a49-4382-b1a0-fedcba987654",
    "https://api.calendly.com/scheduled_events/AAAAAAAAAAAAAAAA/invitees/BBBBBBBBBBBBBBBB",  # not UUIDs: kept as ids
    "https://example.com/not-a-calendly-uri",
])
def test_a_booking_is_stored_short_and_read_back_whole(conn, uri):
    mid = ledger.message_id(f"sms|confirm|invitee|{uri}")
    ledger.record(conn, mid, "planned", booking=uri, kind="confirm", to=PHONE, due=2_000_000_000)
    stored = json.loads(conn.get(keys.ledger_message(mid)))["b"]
    assert len(stored) <= len(uri) and ledger.load(conn, mid).booking == uri
    assert [m.id for m in ledger.for_booking(conn, uri)] == [mid]
