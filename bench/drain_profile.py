"""Where a booking's work goes while the worker drains a burst: Redis commands per booking
(by command, from ``INFO commandstats``) and the worker's CPU per booking (cProfile of one
``relay worker --burst``, the functions with the most cumulative and own time).

    .venv/bin/python bench/drain_profile.py [--bookings 1000] [--reminders] [--redis-url URL] [--top 25]

The provider answers at once, so that what is left is the relay's own work. The figures
explain the burst drain of ``bench/end_to_end.py`` (issue 19, target 3).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, RedisDatabase, engagelab_env, machine, relay_env  # noqa: E402


def commandstats(conn) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): int(stats["calls"])
            for name, stats in conn.info("commandstats").items()}


def burst(count: int) -> list[dict]:
    from shared.calendly import samples

    template = samples.invitee_payload()
    return [samples.envelope("invitee.created", dict(
        template, uri=f"{template['uri'][:-8]}{i:08d}", text_reminder_number=f"+1 404-555-{i % 10000:04d}"))
        for i in range(count)]


def enqueue_bookings(conn, count: int) -> None:
    """The burst drain's work: ``count`` deliveries as the receiver enqueues them."""
    from web import intake

    receiver = intake.Intake(conn)
    for envelope in burst(count):
        receiver.enqueue_once(envelope, 3600)


def release_reminders(conn, count: int) -> None:
    """The same-second burst's work: ``count`` reminders planned, then all released at once."""
    from datetime import datetime, timedelta, timezone

    from rq_scheduler import Scheduler

    from shared.calendly import samples
    from shared.calendly.payloads import parse_delivery
    from shared.settings import Settings
    from worker import apply
    from worker.scheduling import BatchScheduler

    settings = Settings(reminder_offsets=(timedelta(hours=1),), followup_delay=None, crm_backend="off",
                        quiet_hours=None)  # whatever the time of day
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=2)
    for i in range(count):
        payload = samples.invitee_payload(start=start, phone=f"+1 404-555-{i % 10000:04d}")
        apply.apply_delivery(conn, parse_delivery(samples.envelope("invitee.created", payload)), settings,
                             datetime.now(timezone.utc))
    conn.delete("rq:queue:sms")  # only the reminders
    due = {member: int(time.time()) - 1 for member in conn.zrange(Scheduler.scheduled_jobs_key, 0, -1)}
    conn.zadd(Scheduler.scheduled_jobs_key, due)
    BatchScheduler(connection=conn).enqueue_jobs()


def profile(count: int, redis_url: str | None, top: int, work: str = "bookings") -> str:
    from tests.fakes import FakeEngageLab

    with FakeEngageLab() as engagelab, RedisDatabase(redis_url) as url, tempfile.TemporaryDirectory() as tmp:
        conn = redis.Redis.from_url(url)
        (enqueue_bookings if work == "bookings" else release_reminders)(conn, count)
        before = commandstats(conn)
        out = os.path.join(tmp, "worker.prof")
        env = dict(os.environ, **(engagelab_env(url, engagelab.url) if work == "bookings" else relay_env(url)))
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "cProfile", "-o", out, str(BIN / "relay"), "worker", "--burst"],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.monotonic() - started
        after = commandstats(conn)
        if work == "bookings" and len(engagelab.requests) < count:
            raise SystemExit(f"only {len(engagelab.requests)} of {count} messages arrived")
        calls = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        # INFO itself is counted once per reading.
        calls["info"] = calls.get("info", 0) - 1
        stats = pstats.Stats(out)
        listings = {}
        for order in ("cumulative", "tottime"):
            buffer = io.StringIO()
            pstats.Stats(out, stream=buffer).sort_stats(order).print_stats(top)
            listings[order] = _trim(buffer.getvalue())
    what = "bookings, instant provider" if work == "bookings" else "reminders released at once, console provider"
    lines = [f"### Drain profile: {count} {what}, one `relay worker --burst` ({machine()})", "",
             f"wall {elapsed:.1f} s; CPU of the worker {stats.total_tt / count * 1000:.2f} ms per {work[:-1]} "
             f"(under cProfile, which inflates it)", "",
             f"Redis commands per {work[:-1]}: {sum(calls.values()) / count:.1f}", "",
             f"| command | per {work[:-1]} |", "|---|---|"]
    for name, number in sorted(calls.items(), key=lambda item: -item[1]):
        if number > 0:
            lines.append(f"| {name} | {number / count:.2f} |")
    for order, listing in listings.items():
        lines += ["", f"cProfile, by {order} time:", "", "```", listing, "```"]
    return "\n".join(lines)


def _trim(text: str) -> str:
    keep = text[text.find("ncalls"):] if "ncalls" in text else text
    return "\n".join(line.replace(str(BIN.parent.parent), "") for line in keep.splitlines() if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--redis-url")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--reminders", action="store_true", help="profile a same-second burst of reminders instead")
    args = parser.parse_args()
    print(profile(args.bookings, args.redis_url, args.top, "reminders" if args.reminders else "bookings"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
