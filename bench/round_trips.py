"""Redis round trips per booking, by the relay code that made them: one worker, in this
process, drains a burst of bookings (a delivery applied, its confirmation sent through the
console backend). A round trip is one write of commands to Redis (a command alone, a
pipeline or a MULTI/EXEC), counted where redis-py sends it.

    .venv/bin/python bench/round_trips.py [--bookings 50] [--redis-url URL]

Each round trip is a wait for Redis and two wake-ups on a busy machine: the figure behind
the burst drain of ``bench/end_to_end.py`` (issue 19, target 3).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections import Counter
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RedisDatabase  # noqa: E402
from bench.drain_profile import enqueue_bookings  # noqa: E402


def _caller() -> str:
    """The innermost relay frames that led to the send, else the library's."""
    stack = traceback.extract_stack()[:-2]
    ours = [frame for frame in stack if str(ROOT) in frame.filename and "/.venv/" not in frame.filename
            and "/bench/" not in frame.filename]
    frames = ours[-2:] or [next(frame for frame in reversed(stack) if "/redis/" not in frame.filename)]
    return " < ".join(f"{Path(frame.filename).name}:{frame.name}" for frame in reversed(frames))


def count(url: str, bookings: int) -> tuple[float, Counter]:
    os.environ.update(SMS_BACKEND="console", CRM_BACKEND="off", QUIET_HOURS="off", REMINDER_OFFSETS="off",
                      FOLLOWUP_DELAY="off")
    from redis.connection import AbstractConnection
    from rq import Queue

    from shared import defaults
    from worker.rq_worker import RelaySimpleWorker

    conn = redis.Redis.from_url(url)
    enqueue_bookings(conn, bookings)
    worker = RelaySimpleWorker([Queue(name, connection=conn) for name in defaults.WORKER_QUEUES], connection=conn)
    callers: Counter = Counter()
    send = AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        callers[_caller()] += 1
        return send(self, command, check_health)

    AbstractConnection.send_packed_command = counted
    try:
        worker.work(burst=True, logging_level="WARNING")
    finally:
        AbstractConnection.send_packed_command = send
    return sum(callers.values()) / bookings, callers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=50)
    parser.add_argument("--redis-url", help="an empty Redis database (default: a temporary embedded one)")
    args = parser.parse_args()
    with RedisDatabase(args.redis_url) as url:
        per_booking, callers = count(url, args.bookings)
    print(f"Redis round trips per booking: {per_booking:.2f} ({args.bookings} bookings, one worker, burst)\n")
    print("| per booking | sent by |\n|---|---|")
    for caller, calls in callers.most_common():
        print(f"| {calls / args.bookings:.2f} | `{caller}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
