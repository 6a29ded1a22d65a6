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
    oauth.exchange_code(conn, Settings.from_env({**env, "REDIS_URL": redis_url}), "good-code", "a-verifier")
    result = config_check(redis_url, **env)
    lines = remote_lines(result)
    assert lines["OAuth connection"] == "ok ok" and lines["user lookup"] == "ok ok"
    assert lines["booking webhooks, backfill and reconciliation"] == "FAIL missing scope scheduled_events:read"
    assert result.returncode == 1
    stored = {item["feature"].name: item["outcome"] for item in features.recorded(conn)}  # what /admin shows
    assert stored["bookings"] == "missing scope scheduled_events:read" and stored["oauth"] == "ok"


# --- jobs that meet a 403 go on without the feature -----------------------------------

@pytest.fixture
def job_env(monkeypatch, calendly):
    from worker import context

    def use(token):
        for name, value in {"CALENDLY_ACCESS_TOKEN": token, "CALENDLY_API_URL": calendly.url,
                            "REMINDER_OFFSETS": "off", "FOLLOWUP_DELAY": "off"}.items():
            monkeypatch.setenv(name, value)
        context.reset()
    return use


def forbidden_logs(caplog):
    return [r for r in caplog.records if r.name == "relay.calendly" and r.levelname == "ERROR"]


def test_a_cancellation_goes_without_its_link_when_the_scope_is_missing(calendly, conn, job_env, caplog):
    from datetime import datetime, timedelta, timezone

    from rq import Queue
    from rq.registry import FailedJobRegistry

    from shared import defaults
    from shared import stats
    from shared.calendly import samples
    from tests.helpers import console_messages, run_jobs

    job_env(calendly.add_token(scopes=ALL_SCOPES - {"scheduling_links:write"}))
    now = datetime.now(timezone.utc)
    for i, email in enumerate(("ann@example.com", "bob@example.com")):
        booking = samples.invitee_payload(email=email, phone=f"+1 404-555-12{i}0", start=now + timedelta(days=2))
        Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
            defaults.PROCESS_EVENT_FUNC, samples.envelope("invitee.canceled", samples.canceled(booking, at=now)), None)
    run_jobs(conn)
    cancels = [m for m in console_messages(caplog) if m["kind"] == "cancel"]
    assert [m["params"]["link"] for m in cancels] == ["", ""]  # the notices went, without links
    assert calendly.links == [] and conn.zcard("rq:scheduler:scheduled_jobs") == 0  # nothing retried
    assert all(FailedJobRegistry(q, connection=conn).count == 0 for q in defaults.WORKER_QUEUES)
    refused = calendly.received("/scheduling_links", status=403)
    assert stats.read(conn, "calendly_forbidden") == {("rebook_links",): len(refused)} and len(refused) >= 2
    [line] = forbidden_logs(caplog)  # once an hour, however many jobs met it
    assert "missing scope scheduling_links:write" in line.getMessage() and line.feature == "rebook_links"
    assert {("skipped", "missing_scope")} <= set(stats.read(conn, "rebook_links"))


def test_reconciliation_without_the_bookings_scope_skips_quietly(calendly, conn, job_env, caplog):
    from rq import Queue

    from shared import defaults
    from shared import stats
    from tests.helpers import run_jobs

    job_env(calendly.add_token(scopes=ALL_SCOPES - {"scheduled_events:read"}))
    jobs = [Queue(defaults.MAINTENANCE_QUEUE, connection=conn).enqueue("worker.jobs.reconcile_bookings")
            for _ in range(2)]
    run_jobs(conn)
    assert [job.return_value() for job in jobs] == [
        {"status": "skipped", "reason": "missing scope scheduled_events:read"}] * 2
    assert stats.read(conn, "calendly_forbidden") == {("bookings",): 2}
    assert len(forbidden_logs(caplog)) == 1
    stored = {item["feature"].name: item for item in features.recorded(conn)}
    assert stored["bookings"]["outcome"] == "missing scope scheduled_events:read"
    assert stored["bookings"]["source"] == "job"


def test_the_forbidden_counter_is_a_metric(conn):
    from shared import stats
    from shared.settings import Settings
    from tests.helpers import SIGNING_KEY
    from web.app import create_app

    stats.count(conn, "calendly_forbidden", "rebook_links", amount=3)
    web = create_app(Settings(signing_key=SIGNING_KEY, metrics_public=True), redis_client=conn).test_client()
    assert 'relay_calendly_forbidden_total{feature="rebook_links"} 3.0' in web.get("/metrics").get_data(as_text=True)


def test_admin_shows_the_same_table(calendly, conn, redis_url):
    from shared.settings import Settings
    from tests.helpers import SIGNING_KEY
    from web.app import create_app

    admin = "admin-token-for-the-table"
    web = create_app(Settings(signing_key=SIGNING_KEY, admin_token=admin), redis_client=conn).test_client()
    headers = {"Authorization": f"Bearer {admin}"}
    before = web.get("/admin", headers=headers).get_data(as_text=True)
    assert 'id="calendly-features"' in before and before.count("not checked yet") == len(features.FEATURES)
    token = calendly.add_token(scopes=ALL_SCOPES - {"scheduling_links:write"})
    config_check(redis_url, CALENDLY_ACCESS_TOKEN=token, CALENDLY_API_URL=calendly.url)
    page = web.get("/admin", headers=headers).get_data(as_text=True)
    table = page[page.index('id="calendly-features"'):]
    assert "single-use re-booking links</td><td><code>scheduling_links:write</code>" in table
    assert '<td class="bad">missing scope scheduling_links:write' in table
    assert "not checked yet" not in table
