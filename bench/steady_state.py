"""Benchmark: the steady-state size of Redis for a site with many bookings a day (issue 19,
target 4), measured, not estimated from item sizes.

    .venv/bin/python bench/steady_state.py [--bookings 200] [--per-day 10000] [--lead-days 3]

Runs ``--bookings`` bookings through their whole life with the relay's own code, in-process
against an empty Redis: the delivery applied and its jobs run by the relay's worker class
(the confirmation sent to a fake EngageLab, reminders at the default 24 h and 1 h and the
follow-up planned), every pending job measured, then every reminder and the follow-up
fired, and a delivery receipt recorded for each message sent, as EngageLab's callback
would. Then each key left is measured (``MEMORY USAGE``) with its remaining TTL: a key of
``s`` bytes that lives ``t`` more seconds holds ``s·t`` byte-seconds, so at ``R`` bookings a
day Redis holds ``R/86400 × Σ s·t`` per booking in the steady state. While a booking waits
for its meeting (``--lead-days``), its pending reminders and record are held on top. A key
without a TTL is listed apart: bounded ones (counters) are fine; one per booking is a leak.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RedisDatabase, machine  # noqa: E402
from shared import keys  # noqa: E402

DAY = 86400
FAMILY = re.compile(r"[0-9a-f]{16,}|[0-9]{6,}|[0-9a-f]{8}-[0-9a-f-]{27}")


def family(key: str) -> str:
    """``relay:msg:3f2a…`` → ``relay:msg:*``: keys grouped by what they are."""
    return FAMILY.sub("*", key)


def measure(conn) -> dict[str, dict[str, float]]:
    """Per family: keys, bytes, byte-seconds still to live, bytes without a TTL."""
    found: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for raw in conn.scan_iter(count=1000):
        key = raw.decode()
        size = conn.memory_usage(raw, samples=0) or 0
        ttl = conn.ttl(raw)
        entry = found[family(key)]
        entry["keys"] += 1
        entry["bytes"] += size
        if ttl >= 0:
            entry["byte_seconds"] += size * ttl
        else:
            entry["forever"] += size
    return found


def live_bookings(conn, count: int, lead: timedelta) -> None:
    """``count`` bookings made now for meetings ``lead`` ahead, their jobs run."""
    from shared.calendly import samples
    from shared.settings import Settings
    from tests.helpers import run_jobs
    from web.intake import Intake

    start = (datetime.now(timezone.utc) + lead).replace(microsecond=0)
    receiver = Intake(conn)
    for i in range(count):
        payload = samples.invitee_payload(start=start + timedelta(minutes=i), duration=timedelta(minutes=30),
                                          phone=f"+1 404-555-{i % 10000:04d}", email=f"invitee{i}@example.com")
        receiver.enqueue_once(samples.envelope("invitee.created", payload), Settings().dedupe_ttl)
    run_jobs(conn)


def fire_everything(conn) -> None:
    """Every pending reminder and follow-up made due and run; every sent message delivered."""
    from rq_scheduler import Scheduler

    from shared import ledger
    from tests.helpers import run_jobs
    from worker.scheduling import BatchScheduler

    due = {member: int(time.time()) - 1 for member in conn.zrange(Scheduler.scheduled_jobs_key, 0, -1)}
    if due:
        conn.zadd(Scheduler.scheduled_jobs_key, due)
    BatchScheduler(connection=conn).enqueue_jobs()
    run_jobs(conn)
    for message in ledger.recent(conn, state="sent", limit=100_000):
        ledger.record_status(conn, relay_message=message.id, provider_id=message.provider_id, event="delivered")


def report(bookings: int, per_day: int, lead_days: float) -> str:
    from tests.fakes import FakeEngageLab

    import logging

    logging.disable(logging.WARNING)  # the jobs' own lines: not what is measured
    saved = dict(os.environ)
    try:
        return _run(bookings, per_day, lead_days)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        logging.disable(logging.NOTSET)


def _run(bookings: int, per_day: int, lead_days: float) -> str:
    from tests.fakes import FakeEngageLab
    from worker import context

    context.reset()
    with FakeEngageLab() as engagelab, RedisDatabase(None) as url:
        os.environ.update(REDIS_URL=url, SMS_BACKEND="engagelab", ENGAGELAB_DEV_KEY="bench-dev-key",
                          ENGAGELAB_DEV_SECRET="bench-dev-secret", ENGAGELAB_API_URL=engagelab.url,
                          TEMPLATE_ID_CONFIRM="1", TEMPLATE_ID_REMINDER="2", TEMPLATE_ID_FOLLOWUP="3",
                          CRM_BACKEND="off", QUIET_HOURS="off", CALENDLY_WEBHOOK_SIGNING_KEY="bench-signing-key")
        conn = redis.Redis.from_url(url)
        live_bookings(conn, bookings, timedelta(days=lead_days))
        waiting = measure(conn)
        fire_everything(conn)
        done = measure(conn)
    return _table(waiting, done, bookings, per_day, lead_days)


def _table(waiting, done, bookings: int, per_day: int, lead_days: float) -> str:
    # While waiting: what a booking holds until its meeting, beyond what it holds afterwards
    # (pending reminders, the record's early days), for about the lead time.
    from shared import defaults

    held_after = {name: entry["byte_seconds"] / bookings for name, entry in done.items()}
    # Keys without a TTL that grow with the messages and are trimmed by time instead: the
    # ledger's index of recent messages (to LEDGER_RETENTION), RQ's registries of finished
    # jobs (cleaned of jobs whose result expired).
    trimmed = {keys.LEDGER_RECENT: defaults.DEFAULT_LEDGER_RETENTION, "rq:finished:events": defaults.EVENT_JOB_RESULT_TTL,
               "rq:finished:sms": defaults.SIDE_EFFECT_RESULT_TTL,
               "rq:finished:reminders": defaults.SCHEDULED_JOB_RESULT_TTL}
    for name, lifetime in trimmed.items():
        if name in done:
            held_after[name] = done[name]["forever"] / bookings * lifetime
            done[name]["byte_seconds"] = done[name]["forever"] * lifetime
    # What only a booking still waiting for its meeting holds: its pending reminders (fired
    # at once here, held for about the lead time in life).
    waiting_bytes = sum(entry["bytes"] for name, entry in waiting.items()
                        if name.startswith(("rq:job:reminder", "rq:job:followup", "rq:scheduler:scheduled_jobs")))
    waiting_bytes /= bookings
    lines = [f"### Steady-state Redis, measured ({bookings} bookings through their life, {machine()})", "",
             "| key family | keys per booking | bytes per booking | kept for | share of the steady state |",
             "|---|---|---|---|---|"]
    total_after = sum(held_after.values())
    for name, entry in sorted(done.items(), key=lambda item: -item[1]["byte_seconds"]):
        if entry["byte_seconds"] < 0.001 * total_after * bookings:
            continue  # less than a thousandth of the whole
        size = entry["bytes"] / bookings
        kept = entry["byte_seconds"] / entry["bytes"] / DAY if entry["bytes"] else 0
        lines.append(f"| `{name}` | {entry['keys'] / bookings:.2f} | {size:.0f} | {kept:.1f} d | "
                     f"{held_after[name] / total_after:.0%} |")
    forever = {name: entry for name, entry in done.items() if entry["forever"] and name not in trimmed}
    steady = per_day / DAY * total_after + per_day * lead_days * waiting_bytes
    lines += ["", f"Pending reminders and follow-up per booking while it waits for its meeting: {waiting_bytes:,.0f} B."]
    lines += [f"Kept after the meeting, integrated over the keys' TTLs: {total_after / DAY / 1024:,.0f} KiB·days "
              "per booking."]
    lines += ["", f"**Steady state at {per_day:,} bookings a day, booked {lead_days:g} days ahead: "
                  f"{steady / 2**30:.2f} GiB** (pending reminders: "
                  f"{per_day * lead_days * waiting_bytes / 2**30:.2f} GiB), with the default retentions "
                  f"(LEDGER_RETENTION {defaults.DEFAULT_LEDGER_RETENTION // DAY} d, booking records "
                  f"{defaults.BOOKING_RECORD_TTL // DAY} d after the meeting)."]
    if forever:
        lines += ["", "Other keys without a TTL, bounded (counters, the active bookings, capped lists):", ""]
        lines += [f"- `{name}`: {entry['keys']:.0f} keys, {entry['forever']:,.0f} B" for name, entry in
                  sorted(forever.items(), key=lambda item: -item[1]["forever"])]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--per-day", type=int, default=10_000)
    parser.add_argument("--lead-days", type=float, default=3.0)
    args = parser.parse_args()
    print(report(args.bookings, args.per_day, args.lead_days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
