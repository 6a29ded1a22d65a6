"""`relay webhooks ...` against a local fake Calendly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import FakeCalendly

BIN = Path(sys.executable).parent
HOOK = "https://relay.example.com/webhooks/calendly"


@pytest.fixture
def calendly():
    with FakeCalendly(max_page=1) as fake:
        yield fake


@pytest.fixture
def env(calendly, redis_url):
    return dict(os.environ, CALENDLY_API_URL=calendly.url, CALENDLY_ACCESS_TOKEN=FakeCalendly.TOKEN,
                CALENDLY_WEBHOOK_SIGNING_KEY="the-signing-key", RELAY_WEBHOOK_URL=HOOK, REDIS_URL=redis_url)


def relay(env, *args):
    return subprocess.run([str(BIN / "relay"), "webhooks", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_subscribe_with_the_default_events_and_the_signing_key(env, calendly):
    result = relay(env, "subscribe")
    assert result.returncode == 0, result.stderr
    [subscription] = calendly.subscriptions.values()
    assert subscription["events"] == ["invitee.created", "invitee.canceled", "invitee_no_show.created",
                                      "invitee_no_show.deleted"]
    assert subscription["scope"] == "organization" and "signing_key" not in subscription  # write-only
    assert calendly.signing_keys[subscription["uri"].rsplit("/", 1)[-1]] == "the-signing-key"
    [post] = calendly.received("/webhook_subscriptions", status=201)
    assert post["body"]["signing_key"] == "the-signing-key"
    assert post["body"]["organization"] == calendly.organization


def test_an_existing_subscription_is_reported_not_an_error(env, calendly):
    relay(env, "subscribe")
    again = relay(env, "subscribe")
    assert again.returncode == 0
    assert "already exists" in again.stdout
    assert len(calendly.subscriptions) == 1


def test_user_scope_and_routing_forms(env, calendly):
    refused = relay(env, "subscribe", "--scope", "user", "--routing-forms")
    assert refused.returncode == 1 and "organization" in refused.stderr
    assert relay(env, "subscribe", "--scope", "user").returncode == 0
    [subscription] = calendly.subscriptions.values()
    assert subscription["scope"] == "user" and subscription["user"] == calendly.user


def test_list_pages_through_and_flags_disabled_and_retrying(env, calendly):
    relay(env, "subscribe")
    relay(env, "subscribe", "--url", "https://other.example.com/hook")
    relay(env, "subscribe", "--url", "https://third.example.com/hook")
    first, second, _ = calendly.subscriptions.values()
    first["state"] = "disabled"
    second["retry_started_at"] = "2026-11-22T10:00:00.000000Z"
    listing = relay(env, "list")
    assert listing.returncode == 0
    assert listing.stdout.count("callback") == 0 and listing.stdout.count("events:") == 3
    assert "DISABLED" in listing.stdout and "RETRYING since 2026-11-22" in listing.stdout


def test_check_exits_non_zero_when_missing_or_disabled_and_repair_recreates(env, calendly):
    missing = relay(env, "check")
    assert missing.returncode == 1 and "no Calendly webhook subscription" in missing.stdout
    relay(env, "subscribe", "--routing-forms")
    assert relay(env, "check").returncode == 0
    [old] = calendly.subscriptions.values()
    old["state"] = "disabled"
    disabled = relay(env, "check")
    assert disabled.returncode == 1 and "disabled" in disabled.stdout
    repaired = relay(env, "check", "--repair")
    assert repaired.returncode == 0 and "deleted and recreated" in repaired.stdout
    [new] = calendly.subscriptions.values()
    assert new["uri"] != old["uri"] and new["state"] == "active"
    assert new["events"] == old["events"] and "routing_form_submission.created" in new["events"]
    assert relay(env, "check").returncode == 0


def test_a_member_who_is_not_an_admin_works_at_user_scope(env, calendly):
    env = {**env, "CALENDLY_ACCESS_TOKEN": calendly.add_token(admin=False)}
    refused = relay(env, "subscribe")
    assert refused.returncode == 1 and "owner or admin" in refused.stderr
    assert relay(env, "subscribe", "--scope", "user").returncode == 0
    listing = relay(env, "list")  # Calendly refuses the organization listing: the user's is shown
    assert listing.returncode == 0 and listing.stdout.count("events:") == 1 and "  user  " in listing.stdout
    assert relay(env, "check").returncode == 0


def test_listing_sends_the_organization_and_the_user_calendly_requires(env, calendly):
    relay(env, "subscribe")
    relay(env, "list")
    listings = [r["path"] for r in calendly.received("/webhook_subscriptions?")]
    assert listings and all("organization=" in path for path in listings)
    assert all("user=" in path for path in listings if "scope=user" in path)


def test_check_reports_several_subscriptions_for_the_url(env, calendly):
    relay(env, "subscribe")
    relay(env, "subscribe", "--url", HOOK + "/")  # the same URL to the relay, another to Calendly
    result = relay(env, "check")
    assert result.returncode == 1
    assert "problem: 2 subscriptions deliver to" in result.stdout and "relay webhooks delete" in result.stdout


def test_check_reports_an_event_the_configuration_needs(env, calendly):
    env = {**env, "CALENDLY_ROUTING_FORMS": "1"}
    relay(env, "subscribe", "--events", "invitee.created", "invitee.canceled", "invitee_no_show.created",
          "invitee_no_show.deleted")
    lacking = relay(env, "check")
    assert lacking.returncode == 1 and "problem: the subscription lacks routing_form_submission.created" in lacking.stdout
    relay(env, "delete", next(iter(calendly.subscriptions)))
    assert relay(env, "subscribe").returncode == 0  # CALENDLY_ROUTING_FORMS: the routing event by default
    [subscription] = calendly.subscriptions.values()
    assert "routing_form_submission.created" in subscription["events"]
    assert relay(env, "check").returncode == 0


def test_check_reports_deliveries_failing_verification(env, calendly, conn):
    from shared.watchdog import Watchdog

    relay(env, "subscribe")
    assert relay(env, "check").returncode == 0
    dog = Watchdog(conn)
    for _ in range(3):
        dog.refused()
    # Calendly's own deliveries succeed (it retries nothing): the refusals were someone else's.
    forged = relay(env, "check")
    assert forged.returncode == 0 and "note: deliveries have been failing" in forged.stdout
    assert "did not come from this subscription" in forged.stdout
    [subscription] = calendly.subscriptions.values()
    subscription["retry_started_at"] = "2026-12-01T10:00:00.000000Z"  # Calendly's deliveries fail too
    failing = relay(env, "check")
    assert failing.returncode == 1
    assert "problem: deliveries have been failing signature verification since" in failing.stdout
    assert "CALENDLY_WEBHOOK_SIGNING_KEY" in failing.stdout
    assert relay(env, "check", "--repair").returncode == 1  # recreating does not fix a key


def test_delete(env, calendly):
    relay(env, "subscribe")
    [ident] = calendly.subscriptions
    assert relay(env, "delete", ident).returncode == 0
    assert calendly.subscriptions == {}


def test_missing_credentials_are_named(env):
    env = {k: v for k, v in env.items() if k != "CALENDLY_ACCESS_TOKEN"}
    result = relay(env, "list")
    assert result.returncode == 2 and "CALENDLY_ACCESS_TOKEN" in result.stderr
