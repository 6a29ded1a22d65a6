"""``relay release``, the Procfile's release step, as a platform runs it: a process of its
own against a real Redis and a fake Brevo over HTTP. Exit 0 lets the release go live; any
other status keeps the current one running (Heroku's release phase)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes import FakeBrevo
from tests.helpers import SIGNING_KEY, free_port

BIN = Path(sys.executable).parent
WRITES = ("POST", "PUT", "DELETE")


@pytest.fixture
def env(redis_url, brevo):
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("REDIS_", "CALENDLY_", "BREVO_", "ENGAGELAB_", "CRM_", "SMS_", "RELAY_"))}
    base.update(REDIS_URL=redis_url, CALENDLY_WEBHOOK_SIGNING_KEY=SIGNING_KEY, BREVO_API_KEY=FakeBrevo.API_KEY,
                BREVO_API_URL=brevo.url, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    return base


def release(env, tmp_path, **changes):
    env = dict(env)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    started = time.monotonic()
    result = subprocess.run([str(BIN / "relay"), "release"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    return result, time.monotonic() - started


def writes(brevo) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in brevo.requests if r["method"] in WRITES]


def test_release_creates_the_missing_brevo_attributes_and_a_second_run_changes_nothing(env, brevo, tmp_path):
    first, first_took = release(env, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "configuration is valid" in first.stdout
    assert "release: redis answers (no TLS)" in first.stdout
    assert "release: brevo created BOOKING_STATUS (category: booked, cancelled, rescheduled, no_show)" in first.stdout
    created = writes(brevo)
    assert "POST /contacts/attributes/category/BOOKING_STATUS" in created
    assert {"MEETING_DATE", "CALENDLY_EVENT_TYPE", "REBOOK_URL"} <= set(brevo.attribute_defs)

    second, second_took = release(env, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert writes(brevo) == created  # idempotent: nothing created or changed the second time
    assert "release: brevo kept BOOKING_STATUS (category)" in second.stdout
    assert "created" not in second.stdout
    for output in (first.stdout + first.stderr, second.stdout + second.stderr):
        assert FakeBrevo.API_KEY not in output and SIGNING_KEY not in output
    print(f"\nrelay release: {first_took:.2f} s creating {len(created)} attributes, {second_took:.2f} s with "
          "nothing to do (process start included)")


@pytest.mark.parametrize("changes, variable", [
    ({"CALENDLY_WEBHOOK_SIGNING_KEY": None}, "CALENDLY_WEBHOOK_SIGNING_KEY"),
    ({"REDIS_URL": None}, "REDIS_URL"),
    ({"SMS_BACKEND": "engagelab"}, "ENGAGELAB_DEV_KEY"),
    ({"REDIS_SSL_CERT_REQS": "no"}, "REDIS_SSL_CERT_REQS"),
    ({"REMINDER_OFFSETS": "1x"}, "REMINDER_OFFSETS"),
    ({"ADMIN_TOKEN": "short"}, "ADMIN_TOKEN"),
])
def test_a_misconfiguration_fails_the_release_naming_the_variable(env, brevo, tmp_path, changes, variable):
    result, _ = release(env, tmp_path, **changes)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"configuration error: {variable}" in result.stderr
    assert brevo.requests == []  # stopped before anything was changed


def test_brevo_refusing_the_key_fails_the_release(env, brevo, tmp_path):
    result, _ = release(env, tmp_path, BREVO_API_KEY="not-the-key")
    assert result.returncode == 1
    assert "relay release: relay crm setup: brevo HTTP 401" in result.stderr
    assert "(check BREVO_API_KEY)" in result.stderr
    assert "not-the-key" not in result.stdout + result.stderr


def test_brevo_down_fails_the_release_rather_than_go_live_without_the_attributes(env, brevo, tmp_path):
    brevo.fail_for(60, 503, {"code": "internal_error", "message": "try later"})
    result, took = release(env, tmp_path)
    assert result.returncode == 1
    assert "relay crm setup: brevo HTTP 503" in result.stderr
    assert took < 10  # one call, answered: no retries inside the release


def test_without_brevo_there_is_nothing_to_set_up(env, brevo, tmp_path):
    result, _ = release(env, tmp_path, BREVO_API_KEY=None, CRM_BACKEND="log")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "release: CRM_BACKEND=log: no Brevo attributes to set up" in result.stdout
    assert brevo.requests == []


def test_redis_unreachable_does_not_fail_the_release(env, brevo, tmp_path):
    """The processes wait for Redis when they start; blocking the deploy would not help."""
    result, took = release(env, tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "release: redis unreachable just now (ConnectionError)" in result.stdout
    assert took < 10
