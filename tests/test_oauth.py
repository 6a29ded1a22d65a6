"""OAuth 2.0 with Calendly: the admin-only start, the state-checked callback, tokens in
Redis, and refreshes serialised across processes (refresh tokens are single-use)."""

import threading
import time
from dataclasses import replace
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import redis
import requests

from shared.calendly import oauth
from shared.settings import Settings
from tests.fakes import FakeCalendly
from tests.helpers import SIGNING_KEY
from web.app import create_app

ADMIN = "admin-token-for-tests"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
CALLBACK = "http://localhost/oauth/calendly/callback"
"""On the test client's own host, so that the flow cookie it sets comes back."""


@pytest.fixture
def calendly():
    with FakeCalendly() as fake:
        yield fake


@pytest.fixture
def oauth_settings(calendly):
    return Settings(signing_key=SIGNING_KEY, admin_token=ADMIN, calendly_auth_url=calendly.url,
                    calendly_api_url=calendly.url, calendly_client_id=FakeCalendly.CLIENT[0],
                    calendly_client_secret=FakeCalendly.CLIENT[1],
                    calendly_redirect_uri=CALLBACK)


@pytest.fixture
def web(oauth_settings, conn):
    return create_app(oauth_settings, redis_client=conn).test_client()


def query_of(response) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


def authorize(start) -> str:
    """What the operator's browser does at Calendly: follow the authorize URL, approve, and
    come back to the callback with a code (bound to the PKCE challenge) and the state."""
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def connect(web):
    return web.get(authorize(web.get("/oauth/calendly/start", headers=BEARER)))


def test_start_is_an_admin_action(conn, oauth_settings):
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
    assert query["redirect_uri"] == [CALLBACK]
    assert len(query["state"][0]) >= 43
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    flow_cookie = response.headers["Set-Cookie"]
    assert flow_cookie.startswith("relay_oauth=") and "Path=/oauth/calendly/callback" in flow_cookie
    assert "HttpOnly" in flow_cookie and "SameSite=Lax" in flow_cookie and "Max-Age=600" in flow_cookie


def test_callback_checks_the_state_and_stores_the_tokens(web, conn, calendly):
    assert web.get("/oauth/calendly/callback?code=good-code&state=forged").status_code == 400
    response = connect(web)
    assert response.status_code == 200
    assert response.get_json() == {"status": "connected", "owner": calendly.user, "organization": calendly.organization}
    tokens = oauth.stored(conn)
    assert tokens["access_token"] in calendly.tokens and tokens["refresh_token"] in calendly.refresh_tokens
    assert float(tokens["expires_at"]) > time.time() + 7000


def test_state_is_single_use(web, conn):
    start = web.get("/oauth/calendly/start", headers=BEARER)
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    assert web.get(f"/oauth/calendly/callback?code=good-code&state={state}").status_code == 200
    replay = web.get(f"/oauth/calendly/callback?code=good-code&state={state}")
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_state"


def test_denied_authorization_and_bad_codes_are_clear(web):
    denied = web.get("/oauth/calendly/callback?error=access_denied&error_description=User+said+no")
    assert denied.status_code == 400 and "User said no" in denied.get_json()["message"]
    start = web.get("/oauth/calendly/start", headers=BEARER)
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    bad = web.get(f"/oauth/calendly/callback?code=bad-code&state={state}")
    assert bad.status_code == 502 and "bad code" in bad.get_json()["message"]


def test_pkce_s256_keeps_the_verifier_on_the_server(web, conn, calendly):
    assert oauth.code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636, appendix B
    start = web.get("/oauth/calendly/start", headers=BEARER)
    query = query_of(start)
    verifier = oauth.pending(conn, query["state"])["verifier"]
    assert 43 <= len(verifier) <= 128 and verifier not in start.headers["Location"]
    assert oauth.code_challenge(verifier) == query["code_challenge"]
    assert web.get(authorize(start)).status_code == 200
    sent = dict(parse_qsl(calendly.received("/oauth/token")[-1]["body"]))
    assert sent["grant_type"] == "authorization_code" and sent["code_verifier"] == verifier


def test_a_stolen_state_cannot_finish_the_flow_in_another_browser(web, conn, oauth_settings, caplog):
    assert web.post("/admin/login", data={"token": ADMIN}).status_code == 303
    start = web.get("/oauth/calendly/start")
    state = query_of(start)["state"]
    attacker = create_app(oauth_settings, redis_client=conn).test_client()
    stolen = attacker.get(f"/oauth/calendly/callback?code=good-code&state={state}")  # their own code
    assert stolen.status_code == 403 and stolen.get_json()["error"] == "wrong_browser"
    assert "localhost" in stolen.get_json()["message"]
    assert oauth.stored(conn) == {}
    refusals = [r for r in caplog.records if r.name == "relay.web.oauth"]
    assert [r.reason for r in refusals] == ["wrong_browser"]
    assert state not in caplog.text and "good-code" not in caplog.text
    # The admin who started it still finishes it.
    finished = web.get(authorize(start))
    assert finished.status_code == 200 and finished.get_json()["status"] == "connected"
    assert 'relay_oauth=;' in finished.headers["Set-Cookie"]  # the flow cookie is cleared


def test_signing_out_ends_a_pending_flow(web, conn):
    assert web.post("/admin/login", data={"token": ADMIN}).status_code == 303
    start = web.get("/oauth/calendly/start")
    web.post("/admin/logout")
    back = authorize(start)
    ended = web.get(back)
    assert ended.status_code == 403 and ended.get_json()["error"] == "session_ended"
    assert oauth.stored(conn) == {}
    assert web.get(back).get_json()["error"] == "invalid_state"  # and it is gone


def test_changing_the_admin_token_ends_a_pending_flow(web, conn, oauth_settings):
    start = web.get("/oauth/calendly/start", headers=BEARER)  # no session: bound to the token itself
    rotated = create_app(replace(oauth_settings, admin_token="a-brand-new-admin-token"),
                         redis_client=conn).test_client()
    flow = web.get_cookie("relay_oauth", path="/oauth/calendly/callback").value
    rotated.set_cookie("relay_oauth", flow, path="/oauth/calendly/callback")
    ended = rotated.get(authorize(start))
    assert ended.status_code == 403 and ended.get_json()["error"] == "admin_changed"
    assert oauth.stored(conn) == {}


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


def test_a_state_issued_before_the_upgrade_is_refused_cleanly(web, conn):
    conn.set(oauth.STATE_PREFIX + "old-style-state", "1", ex=600)  # what the relay stored before PKCE
    response = web.get("/oauth/calendly/callback?code=good-code&state=old-style-state")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_state"
