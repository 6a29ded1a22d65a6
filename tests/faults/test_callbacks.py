"""EngageLab's callbacks under faults, through the Procfile's processes: statuses that
arrive before the relay has recorded the send, statuses duplicated and out of order, and
Redis down when a callback arrives (503, then EngageLab's retry is taken)."""

from __future__ import annotations

import time

import pytest
import requests

from shared import engagelab_samples, ledger, optouts, stats
from shared.calendly import samples
from shared.engagelab_callback import HEADER, generate_header
from tests.faults import harness

SECRET, USER = harness.CALLBACK_SECRET, "relay-faults"
BOOKINGS = 6


@pytest.fixture
def callbacks_env(engagelab):
    engagelab.callback_username, engagelab.callback_secret = USER, SECRET
    return {**harness.engagelab_env(engagelab.url), "ENGAGELAB_CALLBACK_USERNAME": USER,
            "ENGAGELAB_CALLBACK_SECRET": SECRET}


def start(make_stack, redis_server, engagelab, callbacks_env):
    stack = make_stack(redis_server.url, **callbacks_env)
    stack.start("web")
    stack.start("worker")
    engagelab.callback_url = f"{stack.base_url}/webhooks/engagelab"
    return stack


def book_all(stack) -> list[str]:
    uris = []
    for i in range(BOOKINGS):
        payload = samples.invitee_payload(phone=harness.phone(i), email=f"guest{i}@example.com")
        assert harness.post(stack, samples.envelope("invitee.created", payload)) == 200
        uris.append(payload["uri"])
    return uris


def states(conn, uris) -> list[str | None]:
    found = []
    for uri in uris:
        message = next((m for m in ledger.for_booking(conn, uri) if m.kind == "confirm"), None)
        found.append(message.state if message else None)
    return found


@pytest.mark.parametrize("scenario, statuses", [
    ("callbacks before the send is recorded", ("sent", "delivered")),
    ("callbacks duplicated and reordered", ("delivered", "sent", "delivered", "sent")),
])
def test_every_confirmation_ends_delivered(make_stack, redis_server, engagelab, callbacks_env, scenario, statuses):
    if scenario.startswith("callbacks before"):
        engagelab.delay, engagelab.callback_delay = 0.5, 0.0  # EngageLab calls back while the send still waits
    engagelab.callback_statuses = statuses
    stack = start(make_stack, redis_server, engagelab, callbacks_env)
    conn = redis_server.client()
    uris = book_all(stack)
    harness.wait_for(lambda: states(conn, uris) == ["delivered"] * BOOKINGS, timeout=60,
                     what=f"every confirmation delivered ({scenario})")
    engagelab.wait_for_callbacks()
    assert all(status == 200 for status, _ in engagelab.callbacks)
    assert len(engagelab.callbacks) == BOOKINGS * len(statuses)
    time.sleep(0.5)  # a late "sent" processed after "delivered" must not undo it
    assert states(conn, uris) == ["delivered"] * BOOKINGS
    assert ledger.orphans(conn) == []
    harness.record(scenario, BOOKINGS * (len(statuses) - 1), BOOKINGS, len(engagelab.messages()),
                   harness.duplicates([m["to"] for m in engagelab.messages()]), "ledger: all delivered")


def test_redis_down_at_callback_time_is_503_and_the_retry_is_taken(make_stack, redis_server, engagelab,
                                                                   callbacks_env):
    stack = start(make_stack, redis_server, engagelab, callbacks_env)
    raw = engagelab_samples.body([engagelab_samples.reply_row(harness.e164(1), "STOP")])
    url = f"{stack.base_url}/webhooks/engagelab"

    def post() -> int:
        headers = {"Content-Type": "application/json", HEADER: generate_header(SECRET, USER)}
        try:
            return requests.post(url, data=raw, headers=headers, timeout=10).status_code
        except requests.RequestException:
            return 0

    redis_server.stop()
    started = time.monotonic()
    assert post() == 503
    assert time.monotonic() - started < 3
    assert requests.post(url, data=b"{}", timeout=5).status_code == 200  # the URL check needs no Redis
    redis_server.start()
    conn = redis_server.client()
    harness.wait_for(lambda: post() == 200, timeout=30, what="the callback accepted once Redis is back")
    harness.wait_for(lambda: optouts.is_opted_out(conn, harness.e164(1)), timeout=30, what="the STOP processed")
    assert post() == 200  # EngageLab retrying once more: a duplicate, processed once
    assert stats.read(conn, "engagelab_rows") == {("reply", "stop"): 1}
    harness.record("Redis down at callback time", 1, 1, 1, 0, "503, then the retry processed once")
