"""The ledger's figures on /metrics: relay_messages_total{kind,state,reason} and
relay_sms_delivery_ratio (delivered / (delivered + failed), last 24 hours; NaN before any)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from shared import ledger, stats
from tests.test_metrics import scrape, value, web  # noqa: F401 (the fixture)

URI = "https://api.calendly.com/scheduled_events/E1/invitees/I1"


def story(conn, name, *events):
    mid = ledger.message_id(name)
    ledger.record(conn, mid, "planned", booking=URI, kind="reminder", offset=3600, to="+14045551234")
    for event, detail in events:
        ledger.record(conn, mid, event, **detail)
    return mid


def test_messages_total_counts_each_state_a_message_reaches(web, conn):  # noqa: F811
    story(conn, "a", ("sent", {"provider_id": "1"}), ("delivered", {}), ("delivered", {}))
    story(conn, "b", ("skipped", {"reason": "opted_out"}))
    story(conn, "c", ("sent", {"provider_id": "2"}), ("failed", {"code": "5019", "reason": "unsubscribed"}))
    metrics = scrape(web)
    assert value(metrics, "relay_messages_total", kind="reminder", state="planned") == 3
    assert value(metrics, "relay_messages_total", kind="reminder", state="delivered") == 1
    assert value(metrics, "relay_messages_total", state="skipped", reason="opted_out") == 1
    assert value(metrics, "relay_messages_total", state="failed", reason="5019") == 1
    assert value(metrics, "relay_sms_delivery_ratio") == 0.5


def test_the_ratio_is_nan_until_a_message_reaches_an_outcome(web, conn):  # noqa: F811
    story(conn, "a", ("sent", {"provider_id": "1"}))
    assert math.isnan(value(scrape(web), "relay_sms_delivery_ratio"))


def test_the_ratio_covers_the_last_24_hours(conn):
    now = datetime.now(timezone.utc)
    stats.hourly(conn, stats.DELIVERED, 3, now=now - timedelta(hours=30))  # too old
    stats.hourly(conn, stats.FAILED, 1, now=now - timedelta(hours=23))
    stats.hourly(conn, stats.DELIVERED, 3, now=now)
    assert stats.delivery_ratio(conn, 24, now=now) == (0.75, 3, 1)
    assert stats.delivery_ratio(conn, 24, now=now + timedelta(days=3)) == (None, 0, 0)
