"""The processes as an operator starts them: the Procfile, ``relay dev`` on the embedded
Redis with ``relay simulate``, and refusal to start when misconfigured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from worker.cli import release
from worker.cli.dev import PROCESSES
from tests.helpers import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CALENDLY_WEBHOOK_SIGNING_KEY")}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env.update(extra)
    return env


def test_procfile_declares_the_three_processes_relay_dev_runs_and_the_release_step():
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    declared = {name: command.strip() for name, command in (line.split(":", 1) for line in lines)}
    assert declared == {**PROCESSES, "release": release.COMMAND}
    assert "release" not in PROCESSES  # relay dev never runs it: it exits, and honcho would stop the rest


def test_relay_dev_runs_everything_on_the_embedded_redis(tmp_path):
    port = free_port()
    env = clean_env(PORT=str(port), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "dev.log"
    with open(log_path, "w") as log:
        dev = subprocess.Popen([str(BIN / "relay"), "dev"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _ready(port), timeout=60, what="relay dev to serve /readyz")
        simulate = subprocess.run(
            [str(BIN / "relay"), "simulate", "invitee.created", "--phone", "+1 404-555-1234", "--name", "Jane",
             "--start-in", "2h"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
        assert simulate.returncode == 0, simulate.stdout + simulate.stderr
        assert "200" in simulate.stdout and "accepted" in simulate.stdout
        wait_until(lambda: "sms confirm to +1404*****34" in log_path.read_text(), timeout=30,
                   what="the confirmation in the console backend's output")
        cancel = subprocess.run([str(BIN / "relay"), "simulate", "invitee.canceled"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        wait_until(lambda: "sms cancel to +1404*****34" in log_path.read_text(), timeout=30,
                   what="the cancellation notice")
        token = (tmp_path / "var" / "dev_admin_token").read_text().strip()
        assert f"token: {token}" in log_path.read_text()
        admin = requests.get(f"http://127.0.0.1:{port}/admin", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert admin.status_code == 200 and admin.text.count("invitee.canceled") == 1
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"},
                               timeout=10)
        assert 'relay_sms_total{kind="confirm",outcome="sent",reason=""} 1.0' in metrics.text
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)
    output = log_path.read_text()
    assert "+14045551234" not in output and "jane.doe@example.com" not in output
    assert (tmp_path / "var" / "redis.db").exists() or (tmp_path / "var" / "appendonly.aof").exists()


def _ready(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_web_refuses_to_start_without_a_signing_key(tmp_path):
    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "python:web.gunicorn_config", "web.wsgi:app"],
        cwd=tmp_path, env=clean_env(PORT=str(free_port())), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "CALENDLY_WEBHOOK_SIGNING_KEY" in result.stderr


# (WEB_CONCURRENCY=abc never reaches the relay's config: gunicorn's own default reads it with int().)
@pytest.mark.parametrize("name, value", [("WEB_CONCURRENCY", "0"), ("WEB_CONCURRENCY", "500"), ("PORT", "80a")])
def test_web_refuses_a_malformed_number_naming_the_variable(tmp_path, name, value):
    env = clean_env(PORT=str(free_port()), CALENDLY_WEBHOOK_SIGNING_KEY="k" * 20)
    env[name] = value
    result = subprocess.run([str(BIN / "gunicorn"), "-c", "python:web.gunicorn_config", "web.wsgi:app"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"configuration error: {name} must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_refuses_to_start_without_provider_credentials(tmp_path):
    result = subprocess.run(
        [str(BIN / "relay"), "worker"], cwd=tmp_path, env=clean_env(SMS_BACKEND="engagelab"),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "ENGAGELAB_DEV_KEY" in result.stderr


def test_gunicorns_master_imports_nothing_gevent_must_patch_first():
    """gevent's worker patches sockets and ssl before it imports the app; a network library
    already imported by the master (through the config) would keep unpatched references in
    every worker, and its calls would block the whole worker."""
    code = ("import sys, gunicorn.app.wsgiapp, web.gunicorn_config; "
            "print(sorted(m for m in ('requests', 'urllib3', 'redis', 'hiredis', 'rq') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_gunicorn_ignores_forwarded_headers_unless_proxies_are_trusted(tmp_path, redis_url):
    """gunicorn believes X-Forwarded-Proto from 127.0.0.1 by default; the relay's config turns
    that off so TRUSTED_PROXIES alone decides (here 0: the session cookie is not Secure)."""
    port = free_port()
    env = clean_env(PORT=str(port), REDIS_URL=redis_url, RELAY_ALLOW_UNSIGNED="1",
                    ADMIN_TOKEN="gunicorn-admin-token", WEB_CONCURRENCY="1")
    web = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:web.gunicorn_config", "web.wsgi:app"],
                           cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _ready(port), timeout=60, what="gunicorn to serve /readyz")
        response = requests.post(f"http://127.0.0.1:{port}/admin/login", data={"token": "gunicorn-admin-token"},
                                 headers={"X-Forwarded-Proto": "https"}, allow_redirects=False, timeout=10)
        assert response.status_code == 303
        assert "secure" not in response.headers["Set-Cookie"].lower()
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)


def test_gunicorn_builds_no_access_log_line_unless_one_is_asked_for(tmp_path, redis_url):
    """The config's logger class keeps gunicorn from building an access record per request
    for a logger with no handler; ``--access-logfile -`` still gives the access log."""
    port = free_port()
    env = clean_env(PORT=str(port), REDIS_URL=redis_url, RELAY_ALLOW_UNSIGNED="1", WEB_CONCURRENCY="1",
                    LOG_FORMAT="json")
    for extra, expected in (([], False), (["--access-logfile", "-"], True)):
        log_path = tmp_path / f"web-{len(extra)}.log"
        with log_path.open("w") as log:
            web = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:web.gunicorn_config", *extra, "web.wsgi:app"],
                                   cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until(lambda: _ready(port), timeout=60, what="gunicorn to serve /readyz")
                requests.get(f"http://127.0.0.1:{port}/healthz?probe=access", timeout=10)
            finally:
                web.send_signal(signal.SIGTERM)
                web.wait(timeout=30)
        assert ("/healthz?probe=access" in log_path.read_text()) is expected, log_path.read_text()


def test_the_access_log_switch_follows_accesslog_alone():
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from web.gunicorn_config import AccessLogOnlyWhenAsked, logconfig_dict

    cfg = Config()
    cfg.set("logconfig_dict", logconfig_dict)
    assert Logger(cfg).access_log_enabled is True  # gunicorn's own: any logconfig_dict counts
    assert AccessLogOnlyWhenAsked(cfg).access_log_enabled is False
    cfg.set("accesslog", "-")
    assert AccessLogOnlyWhenAsked(cfg).access_log_enabled is True
