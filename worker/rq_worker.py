"""The RQ worker classes ``relay worker`` runs, tuned for many short jobs, and safe to log.

RQ sends a worker heartbeat before and after every dequeue and again in its main loop:
three extra round trips per job, each only pushing a TTL of minutes a few milliseconds
further. The relay sends them at most every ``WORKER_HEARTBEAT_MIN_INTERVAL`` seconds.
Heartbeats written inside RQ's own pipelines (job start: TTL raised to the job's timeout)
are kept as they are: they cost no extra round trip.

When a job raises, RQ logs its arguments (a whole delivery: names, phone numbers, answers,
cancellation links) and the exception's text, and stores that text with the failed job.
The relay's workers log and store a safe traceback instead (``shared.logs.safe_traceback``):
the frames and the exception's type, its message with the payload's values masked.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import SimpleWorker, Worker
from rq.job_lifecycle import call_exception_handlers
from rq.utils import now

from shared import settings as defaults
from shared.logs import safe_message, safe_traceback

log = logging.getLogger("relay.worker")


class ThrottledHeartbeat:
    log_result_lifespan = False
    """RQ's "result is kept for 86400 seconds" line after every job says nothing new."""

    def heartbeat(self, timeout=None, pipeline=None):
        recent = self.last_heartbeat is not None and now() - self.last_heartbeat < timedelta(
            seconds=defaults.WORKER_HEARTBEAT_MIN_INTERVAL)
        if pipeline is None and timeout is None and recent:
            return
        super().heartbeat(timeout, pipeline)


class SafeFailures:
    """A failing job's record without its payload, in the log and in Redis."""

    _safe_failure: tuple[str, str] | None = None
    """(job id, safe traceback) of the exception just handled."""

    def handle_exception(self, job, *exc_info):
        # RQ's own line carries the job's arguments as extras and the raw traceback.
        self._safe_failure = (job.id, safe_traceback(exc_info))
        name = job.func_name.rsplit(".", 1)[-1] if job.func_name else "?"
        log.error("job %s (%s) failed: %s: %s", job.id, name, type(exc_info[1]).__name__,
                  safe_message(exc_info[1]), exc_info=exc_info,
                  extra={"job": job.id, "queue": job.origin, "func": name})
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        # RQ formats the traceback again for the failed-job registry and the job's result;
        # the safe one made just before in handle_exception replaces it.
        if self._safe_failure is not None and self._safe_failure[0] == job.id and exc_string:
            exc_string = self._safe_failure[1]
        self._safe_failure = None
        return super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                          exc_string=exc_string, execution=execution)


class RelaySimpleWorker(SafeFailures, ThrottledHeartbeat, SimpleWorker):
    """Jobs run in the worker process (``WORKER_CLASS=simple``, the default)."""


class RelayForkWorker(SafeFailures, ThrottledHeartbeat, Worker):
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
