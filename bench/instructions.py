"""Instructions per delivery (the receiver) and per booking (the worker), counted by
valgrind's callgrind: a figure that does not drift with the machine's speed. On a shared
two-core machine the clocks cannot resolve a change of a few per cent (bench/RESULTS.md,
sixth round); the count repeats to within about 1 % for the receiver, 3 % for the worker.

    .venv/bin/python bench/instructions.py [--deliveries 400] [--bookings 150] [--redis-url URL]
                                           [--receiver-only | --worker-only]

Each figure is the difference of two runs of the same program, with N items and with none,
divided by N: the start-up cancels out. The receiver's variants are bench/receiver_costs.py's
(the app called in-process, each duty taken away in turn, beside the minimal durable
receiver); the worker is one ``relay worker --burst`` draining bookings against an instant
fake provider. Instructions are not time (a cache miss costs more than an addition), so
they say how much work a change removed, not how much faster the machine will answer.
Needs valgrind; about ten minutes with the defaults, two programs at a time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import BIN, SIGNING_KEY, RedisDatabase, engagelab_env, machine  # noqa: E402
from bench.receiver_costs import DUTIES  # noqa: E402

WARM_UP = 100


def callgrind(command: list[str], env: dict[str, str]) -> int:
    """Instructions the program executed, as callgrind counts them."""
    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
                         env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode or not found:
        raise SystemExit(f"{' '.join(command[:3])} failed under valgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def run_receiver(variant: str, count: int, made: int) -> None:
    """In the child: ``count`` deliveries through the variant's app, after a warm-up. As
    many requests are made whatever ``count`` is, so that making them cancels out."""
    import logging

    from bench.common import signed_requests
    from bench.receiver_costs import answer, environ, variant_app

    logging.disable(logging.NOTSET)
    sys.stderr = open(os.devnull, "w")
    envs = [environ(raw) for raw in signed_requests(WARM_UP + made)][:WARM_UP + count]
    answer(variant_app(variant), envs)


def receiver(url: str, variant: str, count: int) -> float:
    env = dict(os.environ, REDIS_URL=url, CALENDLY_WEBHOOK_SIGNING_KEY=SIGNING_KEY, CRM_BACKEND="off",
               SMS_BACKEND="console", PYTHONPATH=str(ROOT))

    def count_for(n: int) -> int:
        code = f"from bench.instructions import run_receiver; run_receiver({variant!r}, {n}, {count})"
        try:
            return callgrind([str(BIN / "python"), "-c", code], env)
        finally:
            redis.Redis.from_url(url).flushdb()

    return (count_for(count) - count_for(0)) / count


def worker(url: str, count: int) -> float:
    from bench.drain_profile import enqueue_bookings
    from tests.fakes import FakeEngageLab

    def count_for(n: int) -> int:
        with FakeEngageLab() as engagelab:
            conn = redis.Redis.from_url(url)
            enqueue_bookings(conn, n)
            env = dict(os.environ, **engagelab_env(url, engagelab.url), PYTHONPATH=str(ROOT))
            try:
                instructions = callgrind([str(BIN / "python"), str(BIN / "relay"), "worker", "--burst"], env)
            finally:
                conn.flushdb()
            if len(engagelab.requests) < n:
                raise SystemExit(f"only {len(engagelab.requests)} of {n} messages arrived")
            return instructions

    return (count_for(count) - count_for(0)) / count


RECEIVER_VARIANTS = ["minimal", "relay", *(f"relay without {duty}" for duty in DUTIES), "relay without all"]


def receiver_table(urls: list[str], deliveries: int) -> list[str]:
    """Every variant, as many at a time as there are databases (one program per database)."""
    with ThreadPoolExecutor(len(urls)) as pool:
        figures = dict(zip(RECEIVER_VARIANTS, pool.map(
            lambda pair: receiver(urls[pair[0] % len(urls)], pair[1], deliveries), enumerate(RECEIVER_VARIANTS))))
    lines = [f"Receiver, in-process, per delivery ({deliveries} deliveries after {WARM_UP}):", "",
             "| variant | instructions | what the duty costs |", "|---|---|---|"]
    for variant in RECEIVER_VARIANTS:
        cost = "" if variant in ("minimal", "relay") else f"{figures['relay'] - figures[variant]:,.0f}"
        lines.append(f"| {variant} | {figures[variant]:,.0f} | {cost} |")
    return lines + ["", f"relay / minimal: {figures['relay'] / figures['minimal']:.2f}", ""]


def report(redis_url: str | None, deliveries: int, bookings: int, parts: set[str]) -> str:
    lines = [f"### Instructions (callgrind), {machine()}", ""]
    # Two programs at a time on two cores, each with an embedded Redis of its own; one at a
    # time in the one database given.
    with RedisDatabase(redis_url) as url, RedisDatabase(None) if redis_url is None else nullcontext() as second:
        urls = [url] + ([second] if second else [])
        if "receiver" in parts:
            lines += receiver_table(urls, deliveries)
        if "worker" in parts:
            lines.append(f"Worker, one `relay worker --burst`, instant provider: "
                         f"{worker(url, bookings):,.0f} instructions per booking ({bookings} bookings)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=400)
    parser.add_argument("--bookings", type=int, default=150)
    parser.add_argument("--redis-url", help="an empty Redis database (default: two temporary embedded ones)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--receiver-only", action="store_true")
    only.add_argument("--worker-only", action="store_true")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind (apt-get install valgrind)")
    parts = {"receiver"} if args.receiver_only else {"worker"} if args.worker_only else {"receiver", "worker"}
    print(report(args.redis_url, args.deliveries, args.bookings, parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
