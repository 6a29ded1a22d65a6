"""Shutdown as Heroku does it: SIGTERM to every process of the dyno (sometimes more than
once), then SIGKILL 30 s later (PLATFORM_STOP_TIMEOUT). Each process must be done first:

- ``relay worker`` finishes the job in flight, or past SHUTDOWN_GRACE (25 s) leaves it to
  the abandoned-job recovery, which runs it again; both worker classes;
- ``relay scheduler`` ends between passes: a pass under way completes, none is cut;
- web (gunicorn) answers the requests in flight, accepts no new connection, and stops
  within SHUTDOWN_GRACE even with a request that never completes.

The durations are printed at the end of the run (fault suite: measured durations) and
quoted in the README; the assertions only bound them by the platform's deadline.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq_scheduler import Scheduler

from shared import defaults
from shared.calendly import samples
from tests.faults import harness, slow_jobs
from tests.helpers import signed_headers
from worker.scheduling import schedule

ROOT = Path(__file__).resolve().parents[2]
GRACE = defaults.SHUTDOWN_GRACE
KILL = defaults.PLATFORM_STOP_TIMEOUT


def _book(conn, i: int) -> None:
    """A delivery straight onto the events queue, as the receiver leaves it."""
    payload = samples.invitee_payload(phone=harness.phone(i), email=f"s{i}@example.com")
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(
        defaults.PROCESS_EVENT_FUNC, samples.envelope("invitee.created", payload), None)


def _stopped_after(proc, started: float) -> float:
    proc.wait(timeout=KILL + 10)
    return time.monotonic() - started


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_worker_finishes_the_job_in_flight_through_repeated_sigterms(worker_class, redis_server, engagelab,
                                                                     make_stack):
    engagelab.delay = 3.0
    stack = make_stack(redis_server.url, WORKER_CLASS=worker_class, **harness.engagelab_env(engagelab.url))
    worker = stack.start("worker")
    conn = redis_server.client()
    _book(conn, 0)
    harness.wait_for(lambda: engagelab.arrived >= 1, timeout=20, what="the SMS call in flight")
    started = time.monotonic()
    harness.sigterm_dyno(worker)  # the work horse too, with WORKER_CLASS=fork
    time.sleep(1.5)
    harness.sigterm_dyno(worker)  # Heroku: "processes may receive multiple SIGTERMs"
    took = _stopped_after(worker, started)
    assert worker.returncode == 0
    assert took < GRACE
    assert [m["to"] for m in engagelab.messages()] == [harness.e164(0)]
    [key] = conn.keys("relay:sent:*")
    assert conn.get(key).startswith(b"sent:")  # recorded: no later run sends it again
    harness.timing(f"worker ({worker_class}) stops after SIGTERM, job in flight", took,
                   "the job's remaining provider call (3 s fake EngageLab) and the exit")


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_worker_leaves_a_job_past_the_grace_to_the_recovery(worker_class, redis_server, make_stack):
    stack = make_stack(redis_server.url, WORKER_CLASS=worker_class, PYTHONPATH=str(ROOT))
    worker = stack.start("worker")
    conn = redis_server.client()
    conn.set(slow_jobs.HOLD, 1)
    job = Queue(defaults.MAINTENANCE_QUEUE, connection=conn).enqueue(
        slow_jobs.FUNC, worker_class, job_timeout=600, job_id=f"slow-{worker_class}")  # a reconciliation's timeout
    harness.wait_for(lambda: conn.get(slow_jobs.runs_key(worker_class)) == b"1", timeout=20, what="the job to start")
    started = time.monotonic()
    harness.sigterm_dyno(worker)
    time.sleep(2)
    harness.sigterm_dyno(worker)
    took = _stopped_after(worker, started)
    assert GRACE - 0.5 <= took <= GRACE + 2 < KILL
    assert Worker.count(connection=conn) == 0  # deregistered, not left to expire
    registry = StartedJobRegistry(defaults.MAINTENANCE_QUEUE, connection=conn)
    if worker_class == "simple":
        # Exactly what a killed worker leaves: the job "started", in the started registry.
        assert worker.returncode == defaults.WORKER_LEFT_JOB_EXIT
        assert job.get_status(refresh=True) == JobStatus.STARTED
        entries = conn.zrange(registry.key, 0, -1)
        assert [registry.parse_job_id(entry) for entry in entries] == [job.id]
        # The recovery requeues it once its deadline (start + 600 s + 60 s) has passed: a
        # test cannot wait eleven minutes, so the deadline is moved to now.
        conn.zadd(registry.key, {entry: 0 for entry in entries}, xx=True)
    else:
        # The work horse was killed at the deadline; its failure names the dead horse.
        assert worker.returncode == 0
        assert job.get_status(refresh=True) == JobStatus.FAILED
        assert "Work-horse terminated unexpectedly" in Job.fetch(job.id, connection=conn).latest_result().exc_string
    assert conn.get(slow_jobs.done_key(worker_class)) is None
    conn.delete(slow_jobs.HOLD)
    stack.start("scheduler")  # its recovery pass requeues the job
    stack.start("worker")
    harness.wait_for(lambda: conn.get(slow_jobs.done_key(worker_class)) == b"1", timeout=30,
                     what="the recovered job to run to its end")
    assert conn.get(slow_jobs.runs_key(worker_class)) == b"2"
    assert int(conn.hget("relay:stats:recovered", "abandoned_job") or 0) == 1
    harness.timing(f"worker ({worker_class}) stops after SIGTERM, job past the grace", took,
                   "the job left to the abandoned-job recovery")


def test_scheduler_stops_between_passes(redis_server, make_stack):
    conn = redis_server.client()
    due = datetime.now(timezone.utc) - timedelta(seconds=1)
    total = 6000
    for first in range(0, total, 1000):
        with conn.pipeline() as pipe:
            pipe.multi()
            for i in range(first, first + 1000):
                schedule(pipe, conn, due, "worker.jobs.send_reminder", {"kind": "reminder"}, f"due-{i}")
            pipe.execute()
    stack = make_stack(redis_server.url)
    scheduler = stack.start("scheduler")
    harness.wait_for(lambda: conn.zcard(Scheduler.scheduled_jobs_key) < total, timeout=20,
                     what="the first pass to start releasing")
    started = time.monotonic()
    harness.sigterm_dyno(scheduler)
    released_at_signal = total - conn.zcard(Scheduler.scheduled_jobs_key)
    took = _stopped_after(scheduler, started)
    assert scheduler.returncode == 0
    # The pass under way went to its end: every due job released, none half-moved.
    assert conn.zcard(Scheduler.scheduled_jobs_key) == 0
    assert Queue(defaults.REMINDERS_QUEUE, connection=conn).count == total
    assert not conn.exists(Scheduler.scheduler_lock_key)  # the next scheduler need not wait for it
    assert "scheduler stopped" in stack.logs()
    harness.timing("scheduler stops after SIGTERM mid-pass", took,
                   f"{released_at_signal} of {total} due jobs released at the signal, the rest by the same pass")

    idle = stack.start("scheduler")
    time.sleep(2)
    started = time.monotonic()
    harness.sigterm_dyno(idle)
    took = _stopped_after(idle, started)
    assert idle.returncode == 0
    harness.timing("scheduler stops after SIGTERM between passes", took, f"SCHEDULER_INTERVAL {stack.env['SCHEDULER_INTERVAL']} s")


def _open_request(stack, body_sent: int | None = None) -> tuple[socket.socket, bytes]:
    """A signed delivery whose body is sent only up to ``body_sent`` bytes: a request in flight."""
    raw = samples.body(samples.envelope("invitee.created", samples.invitee_payload(phone=harness.phone(9))))
    headers = {**signed_headers(raw), "Content-Length": str(len(raw)), "Connection": "close", "Host": "relay"}
    head = "POST /webhooks/calendly HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock = socket.create_connection(("127.0.0.1", stack.port), timeout=GRACE + 10)
    sent = len(raw) // 2 if body_sent is None else body_sent
    sock.sendall(head.encode() + raw[:sent])
    return sock, raw[sent:]


def _answer(sock) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("stuck_client", [False, True], ids=["requests-finish", "one-never-finishes"])
def test_web_answers_the_requests_in_flight_and_stops_within_the_grace(stuck_client, redis_server, make_stack):
    stack = make_stack(redis_server.url, WEB_CONCURRENCY="2")
    web = stack.start("web")
    conn = redis_server.client()
    in_flight, rest = _open_request(stack)
    stuck = _open_request(stack, body_sent=0)[0] if stuck_client else None
    time.sleep(0.5)
    started = time.monotonic()
    harness.sigterm_dyno(web)  # the master and its workers at once, as Heroku
    time.sleep(1.5)
    with pytest.raises(OSError):  # no new connection is taken any more
        socket.create_connection(("127.0.0.1", stack.port), timeout=2).close()
    time.sleep(1.5)
    in_flight.sendall(rest)  # the delivery completes three seconds after the SIGTERM
    answer = _answer(in_flight)
    answered = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"accepted"' in answer
    assert Queue(defaults.EVENTS_QUEUE, connection=conn).count == 1  # 200 only once it is in Redis
    took = _stopped_after(web, started)
    assert web.returncode == 0
    if stuck:
        # The body that never comes is answered 408 after WEB_BODY_TIMEOUT (web/body.py), well
        # within the grace; the stop waits for nothing else.
        assert defaults.WEB_BODY_TIMEOUT - 1.5 <= took <= defaults.WEB_BODY_TIMEOUT + 3 < GRACE < KILL
        assert _answer(stuck).startswith(b"HTTP/1.1 408 ")
        harness.timing("web stops after SIGTERM, one request never completing", took,
                       f"its body cut off by WEB_BODY_TIMEOUT; the other in flight answered {answered:.1f} s "
                       "after the signal")
    else:
        assert took < answered + 2
        harness.timing("web stops after SIGTERM, requests in flight", took,
                       f"the last one answered {answered:.1f} s after the signal")
