"""The watchdog for deliveries that fail verification: three refusals for
no_matching_signature within ten minutes, none accepted in between, raise the alarm (an
error line per interval, the gauge, /admin, relay webhooks check) until a delivery is
accepted again."""

import logging

import pytest

from shared import keys, watchdog
from shared import defaults
from shared.calendly import samples
from shared.settings import Settings
from tests.helpers import SIGNING_KEY, post_delivery
from web.app import create_app

WRONG_KEY = "a-key-calendly-does-not-use-4b1f8c"


@pytest.fixture
def web(conn):
    return create_app(Settings(signing_key=SIGNING_KEY, secrets=(SIGNING_KEY,), metrics_public=True),
                      redis_client=conn).test_client()


def booking(i):
    return samples.envelope("invitee.created", samples.invitee_payload(email=f"p{i}@example.com"))


def refuse(web, i):
    response = post_delivery(web, booking(i), key=WRONG_KEY)
    assert response.status_code == 401 and response.get_json()["error"] == "no_matching_signature"


def gauge(web) -> str:
    text = web.get("/metrics").get_data(as_text=True)
    return next(line for line in text.splitlines() if line.startswith("relay_webhook_verification_failing "))


def alarms(caplog):
    return [r for r in caplog.records if r.levelname == "ERROR" and getattr(r, "reason", "") == "verification_failing"]


def test_the_alarm_fires_at_the_threshold_and_clears_when_a_delivery_is_accepted(web, conn, caplog):
    assert defaults.WEBHOOK_VERIFICATION_FAILURES == 3
    refuse(web, 1)
    refuse(web, 2)
    assert watchdog.state(conn) is None and gauge(web).endswith(" 0.0") and alarms(caplog) == []
    refuse(web, 3)
    assert watchdog.state(conn)["refusals"] == 3 and gauge(web).endswith(" 1.0")
    [line] = alarms(caplog)
    message = line.getMessage()
    assert "CALENDLY_WEBHOOK_SIGNING_KEY" in message and "OAuth app" in message and "proxy" in message
    refuse(web, 4)  # within the interval: no second line, still failing
    assert len(alarms(caplog)) == 1 and watchdog.state(conn)["refusals"] == 4
    assert post_delivery(web, booking(5)).status_code == 200  # the key is fixed: accepted
    assert watchdog.state(conn) is None and gauge(web).endswith(" 0.0")
    assert conn.exists(keys.WEBHOOK_REFUSALS) == 0
    refuse(web, 6)
    refuse(web, 7)  # the count started again after the accepted delivery
    assert watchdog.state(conn) is None


def test_only_signed_looking_deliveries_that_do_not_match_count(web, conn):
    for i in range(5):
        raw = samples.body(booking(i))
        assert web.post("/webhooks/calendly", data=raw, headers={"Content-Type": "application/json"}).status_code == 401
        assert post_delivery(web, booking(i), timestamp=1_000_000_000).status_code == 401  # too old, our key
    assert watchdog.state(conn) is None and conn.exists(keys.WEBHOOK_REFUSALS) == 0


def test_a_duplicate_or_an_ignored_event_also_shows_the_key_is_right(web, conn):
    first = booking(1)
    assert post_delivery(web, first).status_code == 200
    for _ in range(3):
        refuse(web, 2)
    assert watchdog.state(conn) is not None
    assert post_delivery(web, first).get_json()["status"] == "duplicate"
    assert watchdog.state(conn) is None
    for _ in range(3):
        refuse(web, 2)
    ignored = post_delivery(web, samples.envelope("event_type.updated", {"uri": "https://api.calendly.com/x"}))
    assert ignored.get_json()["status"] == "ignored" and watchdog.state(conn) is None


def test_the_window_and_the_interval(conn, caplog):
    dog = watchdog.Watchdog(conn)
    window, interval = defaults.WEBHOOK_VERIFICATION_WINDOW, defaults.WEBHOOK_VERIFICATION_ALERT_INTERVAL
    t = 1_800_000_000.0
    assert not dog.refused(t) and not dog.refused(t + 1)
    assert not dog.refused(t + window + 2)  # the first two fell out of the window
    assert watchdog.state(conn) is None
    assert not dog.refused(t + window + 3)
    with caplog.at_level(logging.ERROR):
        assert dog.refused(t + window + 4)  # three within the window: the alarm
        assert not dog.refused(t + window + 5)
        assert dog.refused(t + window + 4 + interval)  # the next interval: one more line
    assert len(alarms(caplog)) == 2
    assert watchdog.state(conn)["since"] == t + window + 4


def test_admin_shows_a_banner_while_failing(conn):
    admin = "admin-token-for-the-banner"
    web = create_app(Settings(signing_key=SIGNING_KEY, admin_token=admin), redis_client=conn).test_client()
    headers = {"Authorization": f"Bearer {admin}"}
    assert 'id="verification-failing"' not in web.get("/admin", headers=headers).get_data(as_text=True)
    for i in range(3):
        refuse(web, i)
    page = web.get("/admin", headers=headers).get_data(as_text=True)
    assert 'id="verification-failing"' in page and "3 refused" in page and "OAuth app" in page
    assert 'style="' not in page  # the Content-Security-Policy allows the one stylesheet only
    assert post_delivery(web, booking(9)).status_code == 200
    assert 'id="verification-failing"' not in web.get("/admin", headers=headers).get_data(as_text=True)


def test_a_flood_of_forged_refusals_keeps_a_fixed_size_in_redis(conn):
    from shared import keys
    from shared import defaults
    from shared.watchdog import Watchdog

    dog = Watchdog(conn)
    for _ in range(500):
        dog.refused()
    assert conn.zcard(keys.WEBHOOK_REFUSALS) == defaults.WEBHOOK_VERIFICATION_FAILURES
    assert conn.memory_usage(keys.WEBHOOK_REFUSALS) < 1024
