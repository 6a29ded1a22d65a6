"""A job for the shutdown tests, run by real ``relay worker`` processes (tests/ on their
PYTHONPATH). The relay's own jobs end within the HTTP timeouts (5 s to connect and 15 s
to read, per call), so a job that outlives SHUTDOWN_GRACE is made here: it runs while
the test holds a flag in Redis."""

from __future__ import annotations

import time

from rq import get_current_job

HOLD = "test:slow-job:hold"
FUNC = "tests.faults.slow_jobs.hold"


def runs_key(name: str) -> str:
    return f"test:slow-job:{name}:runs"


def done_key(name: str) -> str:
    return f"test:slow-job:{name}:done"


def hold(name: str) -> None:
    conn = get_current_job().connection
    conn.incr(runs_key(name))
    while conn.exists(HOLD):
        time.sleep(0.1)
    conn.incr(done_key(name))
