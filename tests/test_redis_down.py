"""Redis unreachable: 503 quickly (Calendly retries), never a hang, never a 2xx."""

import socket
import time

import pytest

from shared.calendly import samples
from shared.redis_conn import connect
from tests.helpers import free_port, post_delivery
from web.app import create_app

MAX_SECONDS = 2.0


@pytest.fixture
def silent_listener():
    """A port that accepts TCP connections and never answers: the worst kind of down."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    sock.close()


@pytest.fixture(params=["refused", "silent"])
def down_url(request, silent_listener):
    if request.param == "refused":
        return f"redis://127.0.0.1:{free_port()}/0"
    return silent_listener


def test_delivery_gets_503_within_two_seconds(down_url, settings):
    app = create_app(settings, redis_client=connect(down_url, fail_fast=True))
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    started = time.monotonic()
    response = post_delivery(app.test_client(), envelope)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.get_json()["error"] == "redis_unavailable"
    assert elapsed < MAX_SECONDS


def test_readiness_fails_and_health_does_not(down_url, settings):
    client = create_app(settings, redis_client=connect(down_url, fail_fast=True)).test_client()
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_bad_requests_are_still_refused_without_redis(settings):
    client = create_app(settings, redis_client=connect(f"redis://127.0.0.1:{free_port()}/0", fail_fast=True)).test_client()
    assert client.post("/webhooks/calendly", data=b"{}").status_code == 401
