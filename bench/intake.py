"""Benchmarks 1 and 2: the receiver's throughput and latency.

1. Signed deliveries at 32 concurrent connections: the real receiver beside a bare Flask
   app and a minimal durable receiver (bench/minimal_app.py: HMAC, json.loads, one Redis
   round trip), all with the same gunicorn settings, in the same run; each round serves the
   three in turn, the medians of the rounds are kept and the ratios are of those medians.
2. Acknowledgement while EngageLab is slow (300 ms): the relay (receiver + workers busy
   with the slow provider) against a handler that calls the provider inside the request.
"""

from __future__ import annotations

import statistics

from bench.common import (
    RedisDatabase, engagelab_env, free_port, gunicorn, load, ms, processes, relay_env, signed_requests, table, wait_ready,
)

CONCURRENCY = 32


PACED_RATE = 200
"""Deliveries per second of the paced run: far above any Calendly account's rate, well
below what saturates two cores."""


def serve_and_load(app: str, env: dict, requests_: list[bytes], seconds: float, extra_commands=(),
                   rate: float | None = None) -> dict:
    port = free_port()
    env = dict(env, PORT=str(port))
    with processes([gunicorn(app), *extra_commands], env):
        wait_ready(port)
        load(port, requests_[:200], CONCURRENCY, 1.0)  # warm-up
        return load(port, requests_[200:], CONCURRENCY, seconds, rate=rate)


APPS = {"relay": "web.wsgi:app", "minimal durable receiver": "bench.minimal_app:app", "bare Flask": "bench.bare_app:app"}
MINIMAL_RATIO_TARGET = 0.85


def intake(redis_url: str | None, seconds: float = 8.0, rounds: int = 3) -> str:
    results: dict[str, list[dict]] = {name: [] for name in APPS}
    for _ in range(rounds):
        for name, app in APPS.items():
            with RedisDatabase(redis_url) as url:
                results[name].append(serve_and_load(app, relay_env(url), signed_requests(40_000), seconds))
    rps = {name: statistics.median(r["rps"] for r in runs) for name, runs in results.items()}
    to_minimal = rps["relay"] / rps["minimal durable receiver"]
    rows = []
    for name, runs in results.items():
        each = ", ".join(f"{r['rps']:.0f}" for r in runs)
        rows.append((f"{name}: requests/s (rounds: {each})",
                     f"{rps[name]:.0f}", ""))
        rows.append((f"{name}: latency p50 / p99", f"{ms(statistics.median(r['p50'] for r in runs))} / "
                                                   f"{ms(statistics.median(r['p99'] for r in runs))}", ""))
    rows += [
        ("ratio relay / minimal durable receiver", f"{to_minimal:.2f}",
         f"≥ {MINIMAL_RATIO_TARGET} " + ("✓" if to_minimal >= MINIMAL_RATIO_TARGET else "✗")),
        ("ratio minimal durable receiver / bare Flask (the limit of any durable receiver)",
         f"{rps['minimal durable receiver'] / rps['bare Flask']:.2f}", ""),
        ("ratio relay / bare Flask", f"{rps['relay'] / rps['bare Flask']:.2f}", ""),
        ("errors (relay, minimal, bare)", ", ".join(str(sum(r["errors"] for r in runs)) for runs in results.values()), ""),
    ]
    return table(f"1. Intake, 32 concurrent connections ({rounds} rounds, same gunicorn settings, same run)", rows)


def slow_provider(redis_url: str | None, seconds: float = 8.0) -> str:
    from tests.fakes import FakeEngageLab

    with FakeEngageLab() as engagelab, RedisDatabase(redis_url) as url:
        engagelab.delay = 0.3
        env = engagelab_env(url, engagelab.url)
        workers = [["relay", "worker"]] * 2
        relay = serve_and_load("web.wsgi:app", env, signed_requests(40_000), seconds, workers)
    with FakeEngageLab() as engagelab, RedisDatabase(redis_url) as url:
        engagelab.delay = 0.3
        anchor = serve_and_load("bench.minimal_app:app", engagelab_env(url, engagelab.url), signed_requests(40_000),
                                seconds, workers)
    with FakeEngageLab() as engagelab, RedisDatabase(redis_url) as url:
        engagelab.delay = 0.3
        env = engagelab_env(url, engagelab.url)
        paced = serve_and_load("web.wsgi:app", env, signed_requests(40_000), seconds, workers, rate=PACED_RATE)
        naive = serve_and_load("bench.naive_app:app", env, signed_requests(5_000), seconds)
    return table("2. Acknowledgement while EngageLab answers after 300 ms, 32 concurrent connections", [
        ("relay (2 workers sending meanwhile), as fast as it answers: p50 / p99",
         f"{ms(relay['p50'])} / {ms(relay['p99'])}", "p99 ≤ 20 ms " + ("✓" if relay["p99"] <= 0.02 else "✗")),
        ("relay: acknowledged/s", f"{relay['rps']:.0f}", ""),
        # Closed loop: each connection sends again when answered, so the mean latency is
        # CONCURRENCY / throughput (Little's law), and no p99 is below that mean.
        ("relay: the floor of any p99 at that rate (32 connections / acknowledged per s)",
         f"{ms(CONCURRENCY / relay['rps'])}", ""),
        ("anchor: the minimal durable receiver, the same load (the 2 workers run, with nothing to send): p50 / p99",
         f"{ms(anchor['p50'])} / {ms(anchor['p99'])}", "same run"),
        ("anchor: acknowledged/s; its floor", f"{anchor['rps']:.0f}; {ms(CONCURRENCY / anchor['rps'])}", ""),
        (f"relay, paced at {PACED_RATE} deliveries/s: p50 / p99", f"{ms(paced['p50'])} / {ms(paced['p99'])}",
         "(unsaturated)"),
        ("provider called in the request: p50 / p99", f"{ms(naive['p50'])} / {ms(naive['p99'])}", ""),
        ("provider called in the request: acknowledged/s", f"{naive['rps']:.0f}", ""),
    ])
