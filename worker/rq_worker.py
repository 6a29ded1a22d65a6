"""The RQ worker classes ``relay worker`` runs, tuned for many short jobs.

RQ sends a worker heartbeat before and after every dequeue and again in its main loop:
three extra round trips per job, each only pushing a TTL of minutes a few milliseconds
further. The relay sends them at most every ``WORKER_HEARTBEAT_MIN_INTERVAL`` seconds.
Heartbeats written inside RQ's own pipelines (job start: TTL raised to the job's timeout)
are kept as they are: they cost no extra round trip.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import SimpleWorker, Worker
from rq.utils import now

from shared import settings as defaults


class ThrottledHeartbeat:
    log_result_lifespan = False
    """RQ's "result is kept for 86400 seconds" line after every job says nothing new."""

    def heartbeat(self, timeout=None, pipeline=None):
        recent = self.last_heartbeat is not None and now() - self.last_heartbeat < timedelta(
            seconds=defaults.WORKER_HEARTBEAT_MIN_INTERVAL)
        if pipeline is None and timeout is None and recent:
            return
        super().heartbeat(timeout, pipeline)


class RelaySimpleWorker(ThrottledHeartbeat, SimpleWorker):
    """Jobs run in the worker process (``WORKER_CLASS=simple``, the default)."""


class RelayForkWorker(ThrottledHeartbeat, Worker):
    """A forked child per job (``WORKER_CLASS=fork``)."""


WORKER_CLASSES = {"simple": RelaySimpleWorker, "fork": RelayForkWorker}

ROUTINE_JOB_LINES = ("Successfully completed", "Job OK")


class QuietSuccess(logging.Filter):
    """Drops RQ's two lines per successful job ("Successfully completed ...", "... Job OK"):
    the job's own line says what it did (``delivery applied``, ``sms ... accepted``), and
    at hundreds of jobs a second the two cost a tenth of the worker's time. Failures,
    retries and RQ's line naming each job it takes stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        parts = [record.msg, *(record.args if isinstance(record.args, tuple) else ())]
        return not any(isinstance(part, str) and line in part for part in parts for line in ROUTINE_JOB_LINES)
