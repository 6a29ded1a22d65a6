"""The RQ worker classes ``relay worker`` runs, tuned for many short jobs, and safe to log.

RQ sends a worker heartbeat before and after every dequeue and again in its main loop:
three extra round trips per job, each only pushing a TTL of minutes a few milliseconds
further. The relay sends them at most every ``WORKER_HEARTBEAT_MIN_INTERVAL`` seconds; it
also skips RQ's second "idle" state write per job and checks for ``rq suspend`` once a
second rather than before every job (two more round trips per job).
Heartbeats written inside RQ's own pipelines (job start: TTL raised to the job's timeout)
are kept as they are: they cost no extra round trip.

When a job raises, RQ logs its arguments (a whole delivery: names, phone numbers, answers,
cancellation links) and the exception's text, and stores that text with the failed job.
The relay's workers log and store a safe traceback instead (``shared.logs.safe_traceback``):
the frames and the exception's type, its message with the payload's values masked.

SIGTERM (a deploy, a restart, ``docker compose stop``) gives the job in flight
``SHUTDOWN_GRACE`` seconds to finish; past them the worker leaves it to the abandoned-job
recovery and exits, before the platform's SIGKILL (``ShutdownGrace``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.job_lifecycle import call_exception_handlers
from rq.utils import now
from rq.worker import WorkerStatus

from shared import defaults
from shared.logs import safe_traceback
from shared.redis_conn import REDIS_UNREACHABLE
from shared.scrub import safe_message
from worker.rq_bookkeeping import FinishWithNextTake, LeanBookkeeping, OneStartTransaction

log = logging.getLogger("relay.worker")


class ThrottledHeartbeat:
    log_result_lifespan = False
    """RQ's "result is kept for 86400 seconds" line after every job says nothing new."""

    _state_written: tuple[str, float] | None = None
    _suspension_checked = 0.0

    def heartbeat(self, timeout=None, pipeline=None):
        recent = self.last_heartbeat is not None and now() - self.last_heartbeat < timedelta(
            seconds=defaults.WORKER_HEARTBEAT_MIN_INTERVAL)
        if pipeline is None and timeout is None and recent:
            return
        super().heartbeat(timeout, pipeline)

    def set_state(self, state, pipeline=None):
        # RQ writes "idle" after a job and again before the next dequeue: a round trip per
        # job that changes nothing. The same state is written again only after a while
        # (the worker's key may have been re-created meanwhile).
        at = time.monotonic()
        if (pipeline is None and self._state_written is not None and self._state_written[0] == state
                and at - self._state_written[1] < defaults.WORKER_HEARTBEAT_MIN_INTERVAL):
            self._state = state
            return
        super().set_state(state, pipeline)
        # Written in a pipeline too (RQ writes "busy" in the job's start transaction): else
        # the "idle" after the job would be taken for a repeat and the worker shown busy.
        self._state_written = (state, at)

    def check_for_suspension(self, burst):
        # `rq suspend` is an operator's command: heeded within a second instead of before
        # every job (a round trip each, with a heartbeat in it).
        at = time.monotonic()
        if at - self._suspension_checked < defaults.WORKER_SUSPENSION_CHECK_INTERVAL:
            return
        self._suspension_checked = at
        super().check_for_suspension(burst)


class MessagesBetweenDeliveries:
    """Queues in priority order (``WORKER_QUEUES``), except that after applying a delivery
    the worker looks at the messages first: callbacks, sms, then the next delivery.

    With strict priority a burst of deliveries is applied whole before its first
    confirmation leaves: 2,000 deliveries held every message for about seven seconds of
    CPU while the provider sat idle (bench/end_to_end.py). Alternating lets one worker's
    provider call overlap another's delivery. Callbacks keep their place before any
    message (a STOP is still on the opt-out list before the next send), a message's
    booking was already written by the delivery that planned it, and a notice whose
    booking has another delivery still in the queue waits for it (shared/waiting.py): a
    booking cancelled before its confirmation went out still gets only the cancellation."""

    def reorder_queues(self, reference_queue):
        if not hasattr(self, "_priority_queues"):
            self._priority_queues = list(self._ordered_queues)
        order = self._priority_queues
        if reference_queue.name == defaults.CALLBACKS_QUEUE:
            return  # a callback between a delivery and its message changes nothing
        if reference_queue.name == defaults.EVENTS_QUEUE and reference_queue in order:
            events = order.index(reference_queue)
            messages = [q for q in order if q.name in defaults.MESSAGES_FIRST_AFTER_DELIVERY]
            order = [q for q in order[:events] if q not in messages] + messages + [
                q for q in order[events:] if q not in messages]
        self._ordered_queues = order


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


class ShutdownGrace:
    """SIGTERM: finish the job in flight if it can within ``SHUTDOWN_GRACE`` seconds, else
    leave it to the abandoned-job recovery (worker/recovery.py), and exit either way
    before the platform's SIGKILL (Heroku: 30 s after its SIGTERM).

    RQ alone waits for the job however long it takes (up to its timeout: ten minutes for
    a reconciliation), so the platform's SIGKILL would land mid-job anyway; and a second
    SIGTERM, which Heroku may send, makes RQ raise SystemExit inside the job, which RQ
    then records as an ordinary failure that no recovery looks at. Here:

    - further SIGTERMs change nothing (the first one started the clock);
    - at the deadline, or at a second Ctrl+C (SIGINT), a job still running is left
      exactly as a killed worker leaves it: still "started" in RQ's registry, so the
      recovery requeues it when its deadline passes (job timeout + 60 s after it
      started); with WORKER_CLASS=fork the work horse is killed and its failure, which
      names the dead horse, is requeued at the recovery's next pass;
    - a job that finishes in time is recorded as usual and the worker exits at once.

    Every message stays guarded by its send-once key, as after any crash.
    """

    _grace_timer: threading.Timer | None = None

    def request_stop(self, signum, frame):
        first = self._shutdown_requested_date is None
        super().request_stop(signum, frame)  # raises StopRequested when idle: nothing to wait for
        if first and self._grace_timer is None:
            job_id = self.get_current_job_id()
            log.warning("stopping: job %s may finish within %d s, or is left to the abandoned-job recovery",
                        job_id, defaults.SHUTDOWN_GRACE, extra={"job": job_id, "signal": signal.Signals(signum).name})
            self._grace_timer = threading.Timer(defaults.SHUTDOWN_GRACE, self._grace_over, args=(job_id,))
            self._grace_timer.daemon = True
            self._grace_timer.start()

    def request_force_stop(self, signum, frame):
        if signum == signal.SIGTERM:
            # Heroku may signal more than once; the first SIGTERM already set the deadline.
            log.info("stopping: SIGTERM again; the job in flight keeps its deadline")
            return
        self._leave_job("a second interrupt")

    def _grace_over(self, job_id) -> None:
        if self.get_state() == WorkerStatus.BUSY and self.get_current_job_id() == job_id:
            self._leave_job(f"its {defaults.SHUTDOWN_GRACE} s grace ran out")

    def _leave_job(self, why: str) -> None:
        job_id = self.get_current_job_id()
        log.warning("stopping now (%s): job %s is left to the abandoned-job recovery", why, job_id,
                    extra={"job": job_id})
        if self.horse_pid:  # WORKER_CLASS=fork: the parent records the dead horse and stops
            self.kill_horse()
            return
        # The job runs in this very process: exit without letting RQ record it as failed.
        try:
            self.register_death()
        except RedisError:
            pass  # the worker's key expires by itself
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(defaults.WORKER_LEFT_JOB_EXIT)

    def teardown(self):
        if self._grace_timer is not None:
            self._grace_timer.cancel()
        super().teardown()


class RideOutRedisOutages:
    """A worker lives through Redis going away between jobs.

    - RQ's registry cleaning (at start, then every ten minutes), its suspension check and
      the "idle" state it writes before each dequeue run outside the try that waits for
      Redis: an outage at that moment ended the worker ("unhandled exception, quitting"),
      leaving its restart to the platform. Here the outage is logged and the loop goes on
      to RQ's dequeue, which waits for Redis; the cleaning is tried again on the next pass.
    - While Redis is unreachable, RQ waits 1, 2, 4 ... up to 60 s between tries: a worker
      could sit idle for most of a minute after Redis came back, its reminders late by as
      much. The wait stops growing at ``WORKER_REDIS_RETRY_MAX_WAIT``."""

    max_connection_wait_time = defaults.WORKER_REDIS_RETRY_MAX_WAIT

    def run_maintenance_tasks(self):
        with _outage_logged("during the registry cleaning; tried again later"):
            super().run_maintenance_tasks()

    def check_for_suspension(self, burst):
        with _outage_logged("during the suspension check"):
            super().check_for_suspension(burst)

    def set_state(self, state, pipeline=None):
        # Only a direct write can fail here: one queued on a pipeline is sent with it.
        with _outage_logged("writing the worker's state"):
            super().set_state(state, pipeline)


@contextmanager
def _outage_logged(during: str) -> Iterator[None]:
    try:
        yield
    except REDIS_UNREACHABLE as error:
        log.warning("redis unreachable %s: %s", during, type(error).__name__)


class RelaySimpleWorker(RideOutRedisOutages, ShutdownGrace, SafeFailures, MessagesBetweenDeliveries, FinishWithNextTake,
                        OneStartTransaction, LeanBookkeeping, ThrottledHeartbeat, SimpleWorker):
    """Jobs run in the worker process (``WORKER_CLASS=simple``, the default)."""


class RelayForkWorker(RideOutRedisOutages, ShutdownGrace, SafeFailures, MessagesBetweenDeliveries, LeanBookkeeping,
                      ThrottledHeartbeat, Worker):
    """A forked child per job (``WORKER_CLASS=fork``)."""

    def setup_work_horse_signals(self):
        # Heroku sends SIGTERM to every process of the dyno, the work horse too: it finishes
        # its job (or is killed at the deadline by its parent) instead of dying at once.
        super().setup_work_horse_signals()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


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
