"""The OAuth app's signing key: Calendly signs every subscription of an OAuth app with
the key it generated for the app, so the relay sends none when it subscribes through
OAuth, says CALENDLY_WEBHOOK_SIGNING_KEY must be that key, and verifies with it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.calendly import oauth, samples
from shared.settings import Settings
from tests.fakes import FakeCalendly
from tests.helpers import SIGNING_KEY
from web.app import create_app

BIN = Path(sys.executable).parent
HOOK = "https://relay.example.com/webhooks/calendly"


@pytest.fixture
def calendly():
    with FakeCalendly() as fake:
        yield fake


@pytest.fixture
def oauth_env(calendly, conn, redis_url):
    env = dict(CALENDLY_CLIENT_ID=FakeCalendly.CLIENT[0], CALENDLY_CLIENT_SECRET=FakeCalendly.CLIENT[1],
               CALENDLY_REDIRECT_URI="https://relay.example.com/oauth/calendly/callback",
               CALENDLY_AUTH_URL=calendly.url, CALENDLY_API_URL=calendly.url, RELAY_WEBHOOK_URL=HOOK,
               REDIS_URL=redis_url, CALENDLY_WEBHOOK_SIGNING_KEY=FakeCalendly.APP_SIGNING_KEY)
    oauth.exchange_code(conn, Settings.from_env(env), "good-code", "a-verifier")  # connected through /admin
    return env


def relay(env, *args):
    return subprocess.run([str(BIN / "relay"), *args], env=dict(os.environ, **env), capture_output=True, text=True,
                          timeout=60)


def receiver(conn, key):
    return create_app(Settings(signing_key=key, secrets=(key,)), redis_client=conn).test_client()


def test_subscribing_through_oauth_sends_no_key_and_deliveries_verify_with_the_apps(calendly, conn, oauth_env):
    result = relay(oauth_env, "webhooks", "subscribe")
    assert result.returncode == 0, result.stderr
    assert "CALENDLY_WEBHOOK_SIGNING_KEY must be that key" in result.stdout
    [post] = calendly.received("/webhook_subscriptions", status=201)
    assert "signing_key" not in post["body"]
    [subscription] = calendly.subscriptions.values()
    raw, headers = calendly.signed_delivery(subscription, samples.envelope("invitee.created", samples.invitee_payload()))
    assert receiver(conn, FakeCalendly.APP_SIGNING_KEY).post("/webhooks/calendly", data=raw,
                                                             headers=headers).status_code == 200
    refused = receiver(conn, SIGNING_KEY).post("/webhooks/calendly", data=raw, headers=headers)
    assert refused.status_code == 401 and refused.get_json()["error"] == "no_matching_signature"


def test_repair_through_oauth_sends_no_key_either(calendly, conn, oauth_env):
    relay(oauth_env, "webhooks", "subscribe")
    [old] = calendly.subscriptions.values()
    old["state"] = "disabled"
    assert relay(oauth_env, "webhooks", "check", "--repair").returncode == 0
    posts = calendly.received("/webhook_subscriptions", status=201)
    assert len(posts) == 2 and all("signing_key" not in post["body"] for post in posts)


def test_a_personal_token_still_sends_the_relays_key(calendly, conn, oauth_env):
    env = {**oauth_env, "CALENDLY_ACCESS_TOKEN": FakeCalendly.TOKEN, "CALENDLY_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    assert relay(env, "webhooks", "subscribe").returncode == 0
    [post] = calendly.received("/webhook_subscriptions", status=201)
    assert post["body"]["signing_key"] == SIGNING_KEY
    [subscription] = calendly.subscriptions.values()
    raw, headers = calendly.signed_delivery(subscription, samples.envelope("invitee.created", samples.invitee_payload()))
    assert receiver(conn, SIGNING_KEY).post("/webhooks/calendly", data=raw, headers=headers).status_code == 200


def test_config_check_says_which_key_verifies_under_oauth(oauth_env):
    under_oauth = relay(oauth_env, "config", "check")
    assert under_oauth.returncode == 0
    assert "CALENDLY_WEBHOOK_SIGNING_KEY must be that key" in under_oauth.stdout
    personal = relay({**oauth_env, "CALENDLY_ACCESS_TOKEN": FakeCalendly.TOKEN}, "config", "check")
    assert "must be that key" not in personal.stdout
    unset = relay({**oauth_env, "CALENDLY_WEBHOOK_SIGNING_KEY": ""}, "webhooks", "subscribe")
    assert unset.returncode == 2 and "app's webhook signing key" in unset.stderr


def test_relay_key_that_is_not_the_apps_trips_the_watchdog_until_fixed(calendly, conn, oauth_env):
    from shared import watchdog

    wrong = {**oauth_env, "CALENDLY_WEBHOOK_SIGNING_KEY": SIGNING_KEY}  # the relay's own key, not the app's
    assert relay(wrong, "webhooks", "subscribe").returncode == 0
    [subscription] = calendly.subscriptions.values()
    web = receiver(conn, SIGNING_KEY)
    for i in range(3):  # Calendly keeps posting; the relay keeps refusing
        raw, headers = calendly.signed_delivery(subscription, samples.envelope(
            "invitee.created", samples.invitee_payload(email=f"p{i}@example.com")))
        assert web.post("/webhooks/calendly", data=raw, headers=headers).status_code == 401
    assert watchdog.state(conn) is not None
    subscription["retry_started_at"] = "2026-12-01T10:00:00.000000Z"  # Calendly retries what was refused
    check = relay(wrong, "webhooks", "check")
    assert check.returncode == 1 and "OAuth app's webhook signing key" in check.stdout
    fixed = receiver(conn, FakeCalendly.APP_SIGNING_KEY)  # CALENDLY_WEBHOOK_SIGNING_KEY set to the app's key
    raw, headers = calendly.signed_delivery(subscription, samples.envelope("invitee.created", samples.invitee_payload()))
    assert fixed.post("/webhooks/calendly", data=raw, headers=headers).status_code == 200
    assert watchdog.state(conn) is None
    assert relay(oauth_env, "webhooks", "check").returncode == 0
