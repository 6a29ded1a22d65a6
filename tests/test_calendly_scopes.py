"""Calendly's scopes and plans as the relay meets them: `relay config check --remote`
says, feature by feature, which scope is missing or what the plan refuses, with a personal
token and with OAuth; jobs that meet such a 403 go on without the feature."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.calendly import features
from tests.fakes import ALL_SCOPES, FakeCalendly
from tests.helpers import free_port

BIN = Path(sys.executable).parent


@pytest.fixture
def calendly():
    with FakeCalendly() as fake:
        yield fake


def config_check(redis_url, **env):
    env = dict(os.environ, REDIS_URL=redis_url, **env)
    return subprocess.run([str(BIN / "relay"), "config", "check", "--remote"], env=env, capture_output=True,
                          text=True, timeout=60)


def remote_lines(result) -> dict[str, str]:
    """"Calendly <feature>: <verdict>" lines by feature title."""
    lines = {}
    for line in result.stdout.splitlines():
        status, _, text = line.partition("  Calendly ")
        if text:
            title, _, verdict = text.partition(": ")
            lines[title] = f"{status.strip()} {verdict}"
    return lines


def test_a_token_with_every_scope_is_ok_for_every_feature(calendly, redis_url):
    result = config_check(redis_url, CALENDLY_ACCESS_TOKEN=FakeCalendly.TOKEN, CALENDLY_API_URL=calendly.url,
                          CALENDLY_ROUTING_FORMS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert remote_lines(result) == {
        "user lookup": "ok ok", "webhook subscriptions": "ok ok",
        "booking webhooks, backfill and reconciliation": "ok ok", "event types": "ok ok",
        "single-use re-booking links": "ok ok", "routing-form leads": "ok ok",
        "OAuth connection": "ok not used (personal access token)"}
    assert not calendly.links and not calendly.subscriptions  # the write probes changed nothing


@pytest.mark.parametrize("removed, feature, line", [
    ({"users:read"}, "user lookup", "FAIL missing scope users:read"),
    ({"webhooks:write"}, "webhook subscriptions", "FAIL missing scope webhooks:write"),
    ({"webhooks:read", "webhooks:write"}, "webhook subscriptions", "FAIL missing scope webhooks:read"),
    ({"scheduled_events:read"}, "booking webhooks, backfill and reconciliation", "FAIL missing scope scheduled_events:read"),
    ({"event_types:read"}, "event types", "ok missing scope event_types:read (not needed by this configuration)"),
    ({"scheduling_links:write"}, "single-use re-booking links", "FAIL missing scope scheduling_links:write"),
    ({"routing_forms:read"}, "routing-form leads", "FAIL missing scope routing_forms:read"),
])
def test_each_missing_scope_is_named_on_its_features_line(calendly, redis_url, removed, feature, line):
    token = calendly.add_token(scopes=ALL_SCOPES - removed)
    result = config_check(redis_url, CALENDLY_ACCESS_TOKEN=token, CALENDLY_API_URL=calendly.url,
                          CALENDLY_ROUTING_FORMS="1")
    lines = remote_lines(result)
    assert lines[feature] == line
    others = {title: verdict for title, verdict in lines.items() if title not in (feature, "OAuth connection")}
    if removed == {"users:read"}:  # everything but the links looks the user up first
        assert set(others.values()) == {"FAIL missing scope users:read", "ok ok",  # ok: the links
                                        "ok missing scope users:read (not needed by this configuration)"}
    else:
        assert set(others.values()) == {"ok ok"}
    assert result.returncode == (0 if line.startswith("ok") else 1)


def test_the_plan_and_an_unreachable_calendly_have_their_own_words(calendly, redis_url):
    calendly.plan_lacks.add("routing_forms")
    planned = config_check(redis_url, CALENDLY_ACCESS_TOKEN=FakeCalendly.TOKEN, CALENDLY_API_URL=calendly.url,
                           CALENDLY_ROUTING_FORMS="1")
    assert remote_lines(planned)["routing-form leads"] == "FAIL plan does not allow it"
    quiet = config_check(redis_url, CALENDLY_ACCESS_TOKEN=FakeCalendly.TOKEN, CALENDLY_API_URL=calendly.url)
    assert remote_lines(quiet)["routing-form leads"] == "ok plan does not allow it (not needed by this configuration)"
    assert quiet.returncode == 0
    down = config_check(redis_url, CALENDLY_ACCESS_TOKEN=FakeCalendly.TOKEN,
                        CALENDLY_API_URL=f"http://127.0.0.1:{free_port()}")
    assert remote_lines(down)["user lookup"] == "FAIL unreachable" and down.returncode == 1
    assert remote_lines(down)["single-use re-booking links"] == "FAIL unreachable"


def test_a_member_who_is_not_an_admin_passes_where_the_relay_falls_back_to_the_user(calendly, redis_url):
    result = config_check(redis_url, CALENDLY_ACCESS_TOKEN=calendly.add_token(admin=False),
                          CALENDLY_API_URL=calendly.url)
    lines = remote_lines(result)
    assert lines["booking webhooks, backfill and reconciliation"] == "ok ok"
    assert lines["webhook subscriptions"] == "ok ok"


def test_oauth_gets_the_same_lines(calendly, conn, redis_url):
    from shared.calendly import oauth
    from shared.settings import Settings

    calendly.oauth_grant.scopes = ALL_SCOPES - {"scheduled_events:read"}
    env = dict(CALENDLY_CLIENT_ID=FakeCalendly.CLIENT[0], CALENDLY_CLIENT_SECRET=FakeCalendly.CLIENT[1],
               CALENDLY_REDIRECT_URI="https://relay.example.com/oauth/calendly/callback",
               CALENDLY_AUTH_URL=calendly.url, CALENDLY_API_URL=calendly.url)
    unconnected = config_check(redis_url, **env)
    assert remote_lines(unconnected)["OAuth connection"].startswith("FAIL not connected")
    assert remote_lines(unconnected)["user lookup"].startswith("FAIL not connected")
    oauth.exchange_code(conn, Settings.from_env({**env, "REDIS_URL": redis_url}), "good-code")
    result = config_check(redis_url, **env)
    lines = remote_lines(result)
    assert lines["OAuth connection"] == "ok ok" and lines["user lookup"] == "ok ok"
    assert lines["booking webhooks, backfill and reconciliation"] == "FAIL missing scope scheduled_events:read"
    assert result.returncode == 1
    stored = {item["feature"].name: item["outcome"] for item in features.recorded(conn)}  # what /admin shows
    assert stored["bookings"] == "missing scope scheduled_events:read" and stored["oauth"] == "ok"
