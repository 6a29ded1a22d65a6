"""OAuth 2.0 with Calendly: the admin-only start, the state-checked callback, tokens in
Redis, and refreshes serialised across processes (refresh tokens are single-use)."""

import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from shared.calendly import oauth
from shared.settings import Settings
from tests.fakes import FakeCalendly
from tests.helpers import SIGNING_KEY
from web.app import create_app

ADMIN = "admin-token-for-tests"


@pytest.fixture
def calendly():
    with FakeCalendly() as fake:
        yield fake


@pytest.fixture
def oauth_settings(calendly):
    return Settings(signing_key=SIGNING_KEY, admin_token=ADMIN, calendly_auth_url=calendly.url,
                    calendly_api_url=calendly.url, calendly_client_id=FakeCalendly.CLIENT[0],
                    calendly_client_secret=FakeCalendly.CLIENT[1],
                    calendly_redirect_uri="https://relay.example.com/oauth/calendly/callback")


@pytest.fixture
def web(oauth_settings, conn):
    return create_app(oauth_settings, redis_client=conn).test_client()


def connect(web):
    start = web.get("/oauth/calendly/start", headers={"Authorization": f"Bearer {ADMIN}"})
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    return web.get(f"/oauth/calendly/callback?code=good-code&state={state}")


def test_start_is_an_admin_action(conn, oauth_settings):
    from dataclasses import replace

    closed = create_app(replace(oauth_settings, admin_token=None), redis_client=conn).test_client()
    assert closed.get("/oauth/calendly/start").status_code == 403
    web = create_app(oauth_settings, redis_client=conn).test_client()
    assert web.get("/oauth/calendly/start").status_code == 401
    assert web.get(f"/oauth/calendly/start?token={ADMIN}").status_code == 401  # never in a URL
    assert web.post("/admin/login", data={"token": ADMIN}).status_code == 303  # a signed-in session
    response = web.get("/oauth/calendly/start")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/oauth/authorize"
    assert query["client_id"] == ["client-id"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["https://relay.example.com/oauth/calendly/callback"]
    assert len(query["state"][0]) >= 24


def test_callback_checks_the_state_and_stores_the_tokens(web, conn, calendly):
    assert web.get("/oauth/calendly/callback?code=good-code&state=forged").status_code == 400
    response = connect(web)
    assert response.status_code == 200
    assert response.get_json() == {"status": "connected", "owner": calendly.user, "organization": calendly.organization}
    tokens = oauth.stored(conn)
    assert tokens["access_token"] in calendly.tokens and tokens["refresh_token"] in calendly.refresh_tokens
    assert float(tokens["expires_at"]) > time.time() + 7000


def test_state_is_single_use(web, conn):
    start = web.get("/oauth/calendly/start", headers={"Authorization": f"Bearer {ADMIN}"})
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    assert web.get(f"/oauth/calendly/callback?code=good-code&state={state}").status_code == 200
    replay = web.get(f"/oauth/calendly/callback?code=good-code&state={state}")
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_state"


def test_denied_authorization_and_bad_codes_are_clear(web):
    denied = web.get("/oauth/calendly/callback?error=access_denied&error_description=User+said+no")
    assert denied.status_code == 400 and "User said no" in denied.get_json()["message"]
    start = web.get("/oauth/calendly/start", headers={"Authorization": f"Bearer {ADMIN}"})
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    bad = web.get(f"/oauth/calendly/callback?code=bad-code&state={state}")
    assert bad.status_code == 502 and "bad code" in bad.get_json()["message"]


def test_the_stored_token_drives_the_api_client(web, conn, oauth_settings, calendly):
    connect(web)
    assert oauth.api_client(conn, oauth_settings).me()["uri"] == calendly.user


def test_concurrent_refreshes_use_each_refresh_token_once(web, conn, redis_url, oauth_settings, calendly):
    connect(web)
    conn.hset(oauth.TOKENS_KEY, "expires_at", str(time.time() + 60))  # about to expire
    results, errors = [], []
    barrier = threading.Barrier(8)

    def worker():
        client = redis.Redis.from_url(redis_url)  # each "process" with its own connection
        barrier.wait()
        try:
            results.append(oauth.access_token(client, oauth_settings))
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert calendly.refreshes == 1
    assert len(set(results)) == 1 and results[0] == oauth.stored(conn)["access_token"]
    assert oauth.stored(conn)["refresh_token"] in calendly.refresh_tokens  # the rotated one is kept
    # A later refresh uses the new refresh token, and works.
    conn.hset(oauth.TOKENS_KEY, "expires_at", str(time.time()))
    oauth.access_token(conn, oauth_settings)
    assert calendly.refreshes == 2


def test_a_personal_token_takes_precedence(conn, calendly):
    settings = Settings(calendly_access_token=FakeCalendly.TOKEN, calendly_api_url=calendly.url)
    assert oauth.api_client(conn, settings).me()["uri"] == calendly.user
