"""Benchmark 3: end to end, delivery accepted → SMS request received by the fake EngageLab.

a. Latency on an idle system (one delivery at a time), p50 and p99.
b. Drain time of a burst of 2,000 bookings with 1, 2, 4 and 8 workers, the provider
   answering in 50 ms.
"""

from __future__ import annotations

import socket
import time

import redis

from bench.common import (
    BIN, RedisDatabase, engagelab_env, free_port, gunicorn, ms, percentile, processes, relay_env, signed_requests,
    table, wait_ready, wait_workers,
)

BURST = 2000


def _post(port: int, request: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        if b" 200 " not in sock.recv(200):
            raise SystemExit("the receiver refused a benchmark delivery")


def idle_latency(redis_url: str | None, count: int = 200) -> dict:
    from tests.fakes import FakeEngageLab

    with FakeEngageLab() as engagelab, RedisDatabase(redis_url) as url:
        port = free_port()
        env = dict(engagelab_env(url, engagelab.url), PORT=str(port))
        with processes([gunicorn("web.wsgi:app"), ["relay", "worker"]], env):
            wait_ready(port)
            wait_workers(url, 1)
            latencies = []
            for request in signed_requests(count):
                seen = len(engagelab.requests)
                started = time.time()
                _post(port, request)
                deadline = time.monotonic() + 10
                while len(engagelab.requests) == seen and time.monotonic() < deadline:
                    time.sleep(0.0005)
                if len(engagelab.requests) > seen:
                    latencies.append(engagelab.requests[seen]["at"] - started)
                time.sleep(0.02)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "n": len(latencies)}


def burst(count: int) -> list[dict]:
    """``count`` distinct invitee.created envelopes, each with its own number."""
    from shared.calendly import samples

    template = samples.invitee_payload()
    return [samples.envelope("invitee.created", dict(
        template, uri=f"{template['uri'][:-8]}{i:08d}", text_reminder_number=f"+1 404-555-{i % 10000:04d}"))
        for i in range(count)]


def burst_drain(redis_url: str | None, workers: int, count: int = BURST, anchor: bool = False) -> float:
    """Seconds from the first enqueue until the provider has every confirmation: the relay's
    workers, or with ``anchor`` the minimal RQ workers of bench/minimal_worker.py."""
    from rq import Queue
    from web import intake
    from tests.fakes import FakeEngageLab

    envelopes = burst(count)
    with FakeEngageLab() as engagelab, RedisDatabase(redis_url) as url:
        engagelab.delay = 0.05
        conn = redis.Redis.from_url(url)
        if anchor:
            from bench.minimal_worker import apply

            events = Queue("events", connection=conn)
            command = [str(BIN / "rq"), "worker", "--quiet", "--url", url, "-w", "worker.rq_worker.RelaySimpleWorker",
                       "events", "sms"]
            env = dict(relay_env(url), ENGAGELAB_API_URL=engagelab.url)

            def enqueue(envelope):
                events.enqueue(apply, envelope)
        else:
            receiver = intake.Intake(conn)
            command, env = ["relay", "worker"], engagelab_env(url, engagelab.url)

            def enqueue(envelope):
                receiver.enqueue_once(envelope, 3600)
        with processes([command] * workers, env):
            wait_workers(url, workers)
            started = time.monotonic()
            for envelope in envelopes:
                enqueue(envelope)
            deadline = started + 600
            while len(engagelab.requests) < count and time.monotonic() < deadline:
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        if len(engagelab.requests) < count:
            raise SystemExit(f"only {len(engagelab.requests)} of {count} messages arrived")
    return elapsed


def end_to_end(redis_url: str | None, worker_counts=(1, 2, 4, 8)) -> str:
    idle = idle_latency(redis_url)
    rows = [("idle: accepted → SMS at the provider, p50 / p99",
             f"{ms(idle['p50'])} / {ms(idle['p99'])} ({idle['n']} deliveries)",
             "p50 ≤ 10 ms, p99 ≤ 20 ms " + ("✓" if idle["p50"] <= 0.01 and idle["p99"] <= 0.02 else "✗"))]
    for workers in worker_counts:
        elapsed = burst_drain(redis_url, workers)
        target = ("≤ 15 s " + ("✓" if elapsed <= 15 else "✗")) if workers == 8 else ""
        rows.append((f"burst of {BURST} bookings, 50 ms provider, {workers} worker(s): drained in",
                     f"{elapsed:.1f} s ({BURST / elapsed:.0f}/s)", target))
    floor = BURST * 0.05 / max(worker_counts)
    anchor = burst_drain(redis_url, max(worker_counts), anchor=True)
    rows += [(f"anchor: minimal RQ workers (bench/minimal_worker.py), {max(worker_counts)} worker(s): drained in",
              f"{anchor:.1f} s ({BURST / anchor:.0f}/s)", "same run"),
             (f"provider time alone ({BURST} × 50 ms / {max(worker_counts)} workers)", f"{floor:.1f} s", "")]
    return table("3. End to end", rows)
