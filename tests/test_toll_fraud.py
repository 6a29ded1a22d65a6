"""SMS toll fraud: only mobiles, only allowed countries, at most so many messages a day per
number (worker/toll_fraud.py)."""

from __future__ import annotations

import threading
import time

import pytest

from shared import stats
from shared.calendly import samples
from shared.settings import Settings
from tests.helpers import console_messages, post_delivery, run_jobs
from worker import toll_fraud


@pytest.mark.parametrize("number, reason", [
    ("+44 909 879 0000", "premium_rate"),   # GB premium rate
    ("+1 900 555 0123", "premium_rate"),    # US 900
    ("+44 20 7946 0958", "not_mobile"),     # a London landline
    ("+33 1 23 45 67 89", "not_mobile"),    # a Paris landline
    ("+1 800 555 0199", "not_mobile"),      # toll-free
    ("+44 56 1234 5678", "not_mobile"),     # GB VoIP range
    ("+49 151 23456789", None),             # a German mobile
    ("+1 404 555 1234", None),              # the US does not tell mobiles from landlines
    ("+881 6 1234 5678", "country_not_allowed"),  # a satellite phone: no country at all
])
def test_only_numbers_that_take_an_sms_are_texted(number, reason):
    import phonenumbers

    e164 = phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.E164)
    assert toll_fraud.refusal(e164, Settings()) == reason


def test_an_allow_list_of_countries():
    settings = Settings.from_env({"SMS_COUNTRIES": "us, GB"})
    assert toll_fraud.refusal("+4915123456789", settings) == "country_not_allowed"
    assert toll_fraud.refusal("+447400123456", settings) is None
    assert toll_fraud.refusal("+447911123456", settings) == "country_not_allowed"  # Guernsey, not GB
    assert toll_fraud.refusal("+14045551234", settings) is None


def test_a_booking_with_a_premium_number_sends_and_schedules_nothing(client, conn, caplog):
    post_delivery(client, samples.envelope("invitee.created", samples.invitee_payload(phone="+44 909 879 0000")))
    run_jobs(conn)
    assert console_messages(caplog) == []
    assert conn.zcard("rq:scheduler:scheduled_jobs") == 0
    counts = stats.read(conn, "sms")
    assert counts[("confirm", "skipped", "premium_rate")] == 1
    assert counts[("reminder", "skipped", "premium_rate")] == 1
    [warning] = [r for r in caplog.records if r.getMessage().startswith("sms to")]
    assert warning.getMessage() == "sms to +4490******00 refused: premium_rate"


def test_the_daily_cap_per_number_spares_the_host(client, conn, caplog, monkeypatch):
    monkeypatch.setenv("SMS_DAILY_CAP_PER_NUMBER", "2")
    monkeypatch.setenv("HOST_PHONE", "+1 212-555-0100")
    for _ in range(3):  # three bookings from one number within the day
        post_delivery(client, samples.envelope("invitee.created", samples.invitee_payload(phone="+49 151 23456789")))
    run_jobs(conn)
    sent = console_messages(caplog)
    assert [m["kind"] for m in sent if m["to"] != "+1212*****00"] == ["confirm", "confirm"]
    assert [m["kind"] for m in sent if m["to"] == "+1212*****00"] == ["host_notify"] * 3
    assert stats.read(conn, "sms")[("confirm", "skipped", "daily_cap")] == 1
    assert any(r.getMessage() == "sms to +4915*******89 refused: daily_cap" for r in caplog.records)


def take_slot(conn, number: str, message_key: str, cap: int, now: float | None = None) -> bool:
    """A message's send-once claim with its guard, as a send takes it: True when the cap
    left it a slot, the lease then given back as a failed attempt gives it back."""
    from worker import idempotency

    guard = lambda pipe, lease: toll_fraud.guard_send(pipe, lease, number, message_key, cap, now=now)  # noqa: E731
    try:
        idempotency.claim(conn, message_key, refuse_if=guard)
    except idempotency.ClaimRefused as refusal:
        assert refusal.reason == toll_fraud.DAILY_CAP
        return False
    idempotency.release(conn, message_key)
    return True


def test_a_slot_is_taken_once_per_message_and_forgotten_after_a_day(conn):
    now = time.time()
    assert take_slot(conn, "+4915123456789", "m1", cap=2, now=now - 25 * 3600)
    assert take_slot(conn, "+4915123456789", "m2", cap=2, now=now)
    assert take_slot(conn, "+4915123456789", "m2", cap=2, now=now)  # a retry of the same message
    assert take_slot(conn, "+4915123456789", "m3", cap=2, now=now)  # m1 is older than 24 h
    assert not take_slot(conn, "+4915123456789", "m4", cap=2, now=now)
    toll_fraud.give_back(conn, "+4915123456789", "m3")  # refused by the provider: it did not count
    assert take_slot(conn, "+4915123456789", "m4", cap=2, now=now)


def test_the_cap_holds_under_concurrent_workers(redis_url):
    import redis

    results = []

    def send(i):
        results.append(take_slot(redis.Redis.from_url(redis_url), "+4915123456789", f"m{i}", cap=5))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True] * 5


def test_booking_with_the_hosts_number_does_not_escape_the_cap(client, conn, caplog, monkeypatch):
    # The exemption is the host notice's, not the number's.
    monkeypatch.setenv("SMS_DAILY_CAP_PER_NUMBER", "2")
    monkeypatch.setenv("HOST_PHONE", "+49 151 23456789")
    for _ in range(3):
        post_delivery(client, samples.envelope("invitee.created", samples.invitee_payload(phone="+49 151 23456789")))
    run_jobs(conn)
    kinds = [m["kind"] for m in console_messages(caplog)]
    assert kinds.count("confirm") == 2 and kinds.count("host_notify") == 3
    assert stats.read(conn, "sms")[("confirm", "skipped", "daily_cap")] == 1


def test_the_guard_sent_with_the_claim_acts_only_for_a_claim_it_took(conn):
    from shared import keys, optouts
    from worker import idempotency

    number = "+4915123456789"
    slots = toll_fraud._key(number)

    def claim(key, cap=1):
        return idempotency.claim(conn, key, refuse_if=lambda pipe, lease: toll_fraud.guard_send(
            pipe, lease, number, key, cap))

    assert claim("m1") and conn.zcard(slots) == 1  # claimed, and its slot taken with it
    with pytest.raises(idempotency.AlreadyInFlight):
        claim("m1")  # another run holds it: that run's slot, none taken again
    idempotency.mark_sent(conn, "m1", "id-1")
    assert claim("m1") is False and conn.zcard(slots) == 1  # a duplicate takes no slot
    with pytest.raises(idempotency.ClaimRefused) as refused:
        claim("m2")
    assert refused.value.reason == toll_fraud.DAILY_CAP and conn.get(keys.sent("m2")) is None
    optouts.add(conn, number, "test")
    with pytest.raises(idempotency.ClaimRefused) as refused:
        claim("m3", cap=5)
    assert refused.value.reason == "opted_out" and conn.zcard(slots) == 1 and conn.get(keys.sent("m3")) is None


def test_the_guard_takes_no_slot_for_a_message_sent_before_the_window(conn):
    from worker import idempotency

    number = "+4915123456789"
    slots = toll_fraud._key(number)
    guard = lambda pipe, lease: toll_fraud.guard_send(pipe, lease, number, "m1", 5)  # noqa: E731
    assert idempotency.claim(conn, "m1", refuse_if=guard)
    idempotency.mark_sent(conn, "m1", "id-1")
    conn.delete(slots)  # its slot forgotten, as 24 hours later
    assert idempotency.claim(conn, "m1", refuse_if=guard) is False  # a replay: a duplicate ...
    assert conn.zcard(slots) == 0  # ... that takes no slot


def test_a_guard_that_fails_gives_the_lease_back(conn):
    import pytest
    from redis.exceptions import ResponseError

    from shared import keys
    from worker import idempotency

    broken = lambda pipe, lease: pipe.eval("return redis.error_reply('broken')", 0)  # noqa: E731
    with pytest.raises(ResponseError):
        idempotency.claim(conn, "m1", refuse_if=broken)
    assert conn.get(keys.sent("m1")) is None  # a retry can claim it at once
