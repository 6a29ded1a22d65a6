"""A confirm reply races the booking's own changes (worker/callbacks/reconfirm.py): the
booking picked as the nearest upcoming one may be cancelled (or rescheduled) before the
reconfirmation is written. What is written must hold for the booking as it is then."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared.booking import BookingStore
from shared.calendly import samples
from tests.test_reminders import apply
from worker.callbacks import reconfirm as reconfirm_module
from worker.callbacks.reconfirm import reconfirm
from worker.providers import settings_from_env

PHONE = "+14045551234"


def booked(conn, start_in: timedelta) -> dict:
    start = (datetime.now(timezone.utc) + start_in).replace(microsecond=0)
    payload = samples.invitee_payload(start=start)
    apply(conn, "invitee.created", payload)
    return payload


def picked_before(conn, monkeypatch, change) -> None:
    """The candidates are read, then ``change`` happens, then the reconfirmation is written."""
    now = datetime.now(timezone.utc)
    stale = BookingStore(conn).upcoming_for_phone(PHONE, now)
    change()
    monkeypatch.setattr(reconfirm_module.BookingStore, "upcoming_for_phone", lambda self, phone, at: stale)


def test_a_booking_cancelled_after_it_was_picked_is_not_reconfirmed(conn, monkeypatch):
    payload = booked(conn, timedelta(days=1))
    picked_before(conn, monkeypatch, lambda: apply(conn, "invitee.canceled", samples.canceled(payload)))
    outcome = reconfirm(conn, PHONE, "C", settings_from_env(), datetime.now(timezone.utc))
    assert BookingStore(conn).load(payload["uri"]).reconfirmed_at is None
    assert outcome == "unmatched"


def test_the_next_booking_is_reconfirmed_when_the_nearest_was_cancelled_meanwhile(conn, monkeypatch):
    nearest = booked(conn, timedelta(days=1))
    later = booked(conn, timedelta(days=3))
    picked_before(conn, monkeypatch, lambda: apply(conn, "invitee.canceled", samples.canceled(nearest)))
    outcome = reconfirm(conn, PHONE, "C", settings_from_env(), datetime.now(timezone.utc))
    store = BookingStore(conn)
    assert store.load(nearest["uri"]).reconfirmed_at is None
    assert store.load(later["uri"]).reconfirmed_at is not None
    assert outcome == "reconfirmed"
