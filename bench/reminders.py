"""Reminder benchmark: lateness of many reminders due at once, and Redis memory per
pending reminder and per booking record.

    .venv/bin/python bench/reminders.py [--reminders 1000] [--pending 100000] [--workers 2]

Runs the real processes (``relay scheduler`` and ``relay worker``) against an embedded
Redis in a temporary directory (or ``--redis-url``, whose database must be empty), with
the console SMS backend. Prints a Markdown table; targets (issue 19): p99 lateness ≤ 1 s
with 1,000 reminders due in the same minute and ≤ 1.5 s with 1,000 due in the same second,
≤ 1,000 B of Redis per pending reminder.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
from rq import Queue
from rq.job import Job

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RedisDatabase, percentile, table, wait_workers  # noqa: E402
from shared import defaults  # noqa: E402
from shared.booking import BookingRecord, BookingStore  # noqa: E402
from shared.vocabulary import BookingStatus, SmsKind  # noqa: E402
from shared.calendly import samples  # noqa: E402
from shared.calendly.payloads import parse_delivery  # noqa: E402
from shared.settings import Settings  # noqa: E402
from worker import apply, scheduling  # noqa: E402
from worker.quiet_hours import Placement  # noqa: E402
from worker.messages import reminder_job  # noqa: E402



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=1000, help="reminders due in the same minute")
    parser.add_argument("--pending", type=int, default=100_000, help="pending reminders and records for memory")
    parser.add_argument("--workers", type=int, default=2, help="relay worker processes")
    parser.add_argument("--worker-class", choices=("simple", "fork"), default="simple")
    parser.add_argument("--redis-url", help="an empty Redis database (default: embedded, temporary)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    text = report(args.redis_url, args.reminders, args.pending, args.workers, args.worker_class)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


def report(redis_url: str | None, count: int, pending: int, workers: int, worker_class: str) -> str:
    with RedisDatabase(redis_url) as url:
        conn = redis.Redis.from_url(url)
        spread = measure_lateness(conn, url, count, workers, worker_class, spread=60)
        conn.flushdb()
        burst = measure_lateness(conn, url, count, workers, worker_class, spread=1)
        conn.flushdb()
        anchor = anchor_burst(conn, url, count, workers)
        conn.flushdb()
        per_reminder, per_record = measure_memory(conn, pending)
        conn.flushdb()
    p99 = percentile(spread, 99)
    burst99 = percentile(burst, 99)
    return table(f"4–5. Reminders and memory ({count} reminders, {pending:,} pending)", [
        ("worker processes", f"{workers} ({worker_class})", ""),
        ("lateness p50, due in the same minute", f"{percentile(spread, 50):.3f} s", ""),
        ("lateness p99, due in the same minute", f"{p99:.3f} s", "≤ 1 s " + ("✓" if p99 <= 1 else "✗")),
        ("lateness p50, all due in the same second", f"{percentile(burst, 50):.3f} s", ""),
        ("lateness p99, all due in the same second", f"{burst99:.3f} s", "≤ 1.5 s " + ("✓" if burst99 <= 1.5 else "✗")),
        ("anchor: minimal RQ jobs (bench/minimal_worker.py), all released at once: p50 / p99",
         f"{percentile(anchor, 50):.3f} s / {percentile(anchor, 99):.3f} s", "same run"),
        ("Redis per pending reminder", f"{per_reminder:.0f} B", "≤ 1,000 B " + ("✓" if per_reminder <= 1000 else "✗")),
        ("Redis per booking record", f"{per_record:.0f} B", ""),
    ])


def measure_lateness(conn, url: str, count: int, workers: int, worker_class: str, spread: int) -> list[float]:
    """Book ``count`` meetings whose reminders fall due spread over ``spread`` seconds
    (whole seconds, as meetings start on the minute), then let the real scheduler and
    workers send them; lateness = time the job ran − due time."""
    # Without quiet hours: the reminders fall due when measured, whatever the time of day.
    settings = Settings(reminder_offsets=(timedelta(hours=1),), followup_delay=None, crm_backend="off", quiet_hours=None)
    first_due = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=max(15, count // 50))
    for i in range(count):
        start = first_due + timedelta(hours=1, seconds=i % spread)
        payload = samples.invitee_payload(start=start, phone=f"+1 404-555-{i % 10000:04d}")
        apply.apply_delivery(conn, parse_delivery(samples.envelope("invitee.created", payload)),
                            settings, datetime.now(timezone.utc))
    Queue(defaults.SMS_QUEUE, connection=conn).empty()  # only the reminders are measured
    # The processes' planning configuration is the one the reminders were planned with: the
    # scheduler's first start replans under its own, and quiet hours (on by default) would
    # move every reminder planned at night to another job.
    env = dict(os.environ, REDIS_URL=url, SMS_BACKEND="console", CRM_BACKEND="off", SCHEDULER_INTERVAL="1",
               WORKER_CLASS=worker_class, REMINDER_OFFSETS="1h", FOLLOWUP_DELAY="off", QUIET_HOURS="off")
    relay = str(Path(sys.executable).parent / "relay")
    processes = [subprocess.Popen([relay, "scheduler"], env=env, stderr=subprocess.DEVNULL)]
    processes += [subprocess.Popen([relay, "worker"], env=env, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        ids = [k.decode().split(":")[-1] for k in conn.keys("rq:job:reminder-*")]
        deadline = time.time() + (first_due - datetime.now(timezone.utc)).total_seconds() + spread + 120
        results = {}
        while len(results) < len(ids) and time.time() < deadline:
            time.sleep(0.5)
            for job_id in ids:
                if job_id not in results:
                    job = Job.fetch(job_id, connection=conn)
                    value = job.return_value()
                    if value is not None:
                        results[job_id] = value
    finally:
        for proc in processes:
            proc.send_signal(signal.SIGTERM)
        for proc in processes:
            proc.wait(timeout=30)
    sent = [r["lateness"] for r in results.values() if r.get("status") == "sent"]
    if len(sent) < count:
        print(f"warning: only {len(sent)} of {count} reminders were sent in time", file=sys.stderr)
    return sent


def anchor_burst(conn, url: str, count: int, workers: int) -> list[float]:
    """The same-second burst's floor: ``count`` minimal reminder jobs (read the booking,
    claim the send-once key) put on the queue at once, as the scheduler releases them, and
    run by `rq worker` with the relay's worker class; lateness = when each job ended − the release."""
    from bench.minimal_worker import remind

    queue = Queue(defaults.REMINDERS_QUEUE, connection=conn)
    env = dict(os.environ, REDIS_URL=url)
    rq = str(Path(sys.executable).parent / "rq")
    command = [rq, "worker", "--quiet", "--url", url, "-w", "worker.rq_worker.RelaySimpleWorker",
               defaults.REMINDERS_QUEUE]
    processes = [subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        wait_workers(url, workers)
        with conn.pipeline() as pipe:
            jobs = [queue.enqueue(remind, f"relay:booking:{i}", f"relay:sent:anchor-{i}", pipeline=pipe)
                    for i in range(count)]
            released = time.time()
            pipe.execute()
        deadline = time.time() + 120
        while queue.count and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        ended = [Job.fetch(job.id, connection=conn).ended_at for job in jobs]
    finally:
        for proc in processes:
            proc.send_signal(signal.SIGTERM)
        for proc in processes:
            proc.wait(timeout=30)
    return [end.timestamp() - released for end in ended if end is not None]


def measure_memory(conn, count: int) -> tuple[float, float]:
    """Bytes of Redis per pending reminder (job hash + sorted-set entry, as scheduled by
    the relay) and per booking record."""
    now = datetime.now(timezone.utc)
    start = now + timedelta(days=3)
    records = [
        BookingRecord(
            invitee_uri=f"https://api.calendly.com/scheduled_events/{samples.new_uuid()}/invitees/{samples.new_uuid()}",
            status=BookingStatus.ACTIVE, created_seen=True, email=f"invitee{i}@example.com", name="Jane Doe",
            phone="+14045551234", timezone="America/New_York", start=start, end=start + timedelta(minutes=30),
            scheduled_event_uri=f"https://api.calendly.com/scheduled_events/{samples.new_uuid()}",
            event_type_uri="https://api.calendly.com/event_types/a1b2c3d4-0000-4000-8000-00000000e7e1",
            event_type_name="30 Minute Meeting", join_url="https://calendly.com/events/x/google_meet",
            last_event="invitee.created", last_event_at=now,
        )
        for i in range(count)
    ]
    baseline = used_memory(conn)
    for chunk in chunks(records, 1000):
        with conn.pipeline(transaction=False) as pipe:
            for record in chunk:
                spec = reminder_job(record, SmsKind.REMINDER, Placement(start - timedelta(hours=1)), 3600)
                scheduling.schedule(pipe, conn, spec.at, spec.func, spec.data, spec.job_id)
            pipe.execute()
    per_reminder = (used_memory(conn) - baseline) / count
    baseline = used_memory(conn)
    store = BookingStore(conn)
    for chunk in chunks(records, 1000):
        with conn.pipeline(transaction=False) as pipe:
            for record in chunk:
                store.save(record, now, client=pipe)
            pipe.execute()
    per_record = (used_memory(conn) - baseline) / count
    return per_reminder, per_record


def used_memory(conn) -> int:
    return int(conn.info("memory")["used_memory"])


def chunks(items, size):
    for index in range(0, len(items), size):
        yield items[index:index + size]


if __name__ == "__main__":
    sys.exit(main())
