"""RQ's per-job bookkeeping, in fewer round trips, for jobs as the relay makes them.

While jobs wait, RQ pops one (LPOP) and then reads its hash (HGETALL): ``TakeAndReadQueue``
does both in one script. After every job RQ (3.0) raises the job's heartbeat in a round
trip of its own, then WATCHes the job's dependents key and reads it (dependents to
release), then commits the outcome, re-serialising and compressing the whole job hash to
change two fields. The relay's jobs have no success or failure callbacks and no repeats,
and normally no dependents, so for them:

- the heartbeat before the outcome is skipped (it keeps the job's registry entry alive
  while a callback runs);
- the outcome is one MULTI/EXEC without the WATCH and the read: the transaction counts
  the job's dependents as it marks the job finished, and only when there are some are
  they released as RQ releases them (one added before the commit is counted; one added
  after it finds the job finished and RQ's enqueue queues it at once). Unlike RQ, that
  release is a second transaction: a crash between the two would leave the dependents
  deferred. The relay enqueues nothing with ``depends_on``;
- the job hash gets the fields that changed (status, ended_at) instead of all of them,
  and only if it still exists.

Three round trips a job become one; with jobs run in the worker process (``SimpleWorker``)
the two transactions that start a job (the execution registered, the job marked started)
are one as well, which also closes the moment between them when a crash left a job
registered as running but still "queued". What lands in Redis is what RQ writes: the job's
status, its result stream, the finished registry, the worker's counters, the execution
removed (tests/test_rq_bookkeeping.py compares them with RQ's own). A job with a callback
or a repeat takes RQ's own path unchanged.

RQ also checks its serializer against a runtime ``Protocol`` each time it makes a Job, a
Queue, a registry or a Result: a dozen times a job, and on Python 3.11 each check walks the
protocol's class attributes (6 µs; 3 % of a worker's time in a burst). The worker's
serializer never changes, so each one is checked once (``resolve_serializer_once``).
"""

from __future__ import annotations

import logging
import time
from importlib import import_module
from typing import Any, Callable
from weakref import WeakKeyDictionary

from redis.commands.core import Script
from redis.exceptions import NoScriptError, RedisError
from rq import Queue, serializers
from rq.executions import Execution
from rq.exceptions import NoSuchJobError
from rq.job import JobStatus
from rq.rate_limit import release_slot
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq.utils import as_text, now, utcformat
from rq.worker import WorkerStatus

from shared import defaults
from worker.script_transaction import send_as_one_script

log = logging.getLogger("relay.worker")


def resolve_serializer_once(serializer=None, _resolved={}):  # noqa: B006 - the cache, on purpose
    """RQ's ``resolve_serializer``, the answer kept per serializer (an unhashable one is
    checked every time, as RQ checks it; one RQ refuses is refused every time)."""
    try:
        return _resolved[serializer]
    except KeyError:
        _resolved[serializer] = found = serializers.resolve_serializer(serializer)
        return found
    except TypeError:
        return serializers.resolve_serializer(serializer)


SERIALIZER_USERS = ("rq.job", "rq.queue", "rq.registry", "rq.results", "rq.worker.base")
"""The RQ modules that resolve a serializer per object they make (each imported the name)."""
for _module in SERIALIZER_USERS:
    import_module(_module).resolve_serializer = resolve_serializer_once


TAKE_NEXT_JOB = """
for i, queue in ipairs(KEYS) do
  local id = redis.call('LPOP', queue)
  if id then
    local job = ARGV[1] .. id
    if redis.call('HEXISTS', job, 'data') == 1 then
      local timeout = tonumber(redis.call('HGET', job, 'timeout')) or tonumber(ARGV[3])
      if timeout < 0 then timeout = tonumber(ARGV[3]) end
      redis.call('ZADD', ARGV[5 + i], tonumber(ARGV[2]) + timeout + tonumber(ARGV[4]), id .. ':' .. ARGV[5])
    end
    return {queue, id, redis.call('HGETALL', job)}
  end
end
return false
"""
"""The first job of the first non-empty queue, with its hash: RQ pops, then reads (two
round trips). The job's key is built here from its id, as RQ builds it (standalone Redis,
as the relay's; a cluster would want the key declared).

The job is entered in its queue's started registry in the same step (member
``<id>:taken``, due when the job's own timeout and a minute have passed), and that entry
is removed when the job starts (``OneStartTransaction``). A worker killed between the take
and the start (a millisecond, in which RQ alone loses the job: popped, in no registry)
leaves the entry, and the abandoned-job recovery (worker/recovery.py) requeues the job,
still "queued", once it is due. An entry left by a job that did run (the fork worker does
not remove it) finds the job finished when it falls due and is dropped."""
TAKEN = "taken"
_TAKE = Script(None, TAKE_NEXT_JOB.encode())  # run by its SHA, loaded into Redis on first use


class TakeAndReadQueue(Queue):
    """While jobs are waiting, a job is taken and read in one round trip. With every queue
    empty the worker blocks in RQ's own BLPOP as before (and reads the job it wakes for as
    RQ does), so an idle worker answers a new job just as fast."""

    @classmethod
    def dequeue_any(cls, queues, timeout, connection, job_class=None, serializer=None,
                    death_penalty_class=None):
        queues = list(queues)
        if len(queues) == 1:  # RQ moves a single queue's job to an intermediate list: its own path
            _send_pending_finish(connection)
            return super().dequeue_any(queues, timeout, connection, job_class, serializer, death_penalty_class)
        job_cls = job_class or cls.job_class
        while True:
            taken = _take_with_pending_finish(connection, [queue.key for queue in queues],
                                              job_cls.redis_job_namespace_prefix)
            if not taken:
                return super().dequeue_any(queues, timeout, connection, job_class, serializer, death_penalty_class)
            queue_key, job_id, fields = as_text(taken[0]), as_text(taken[1]), taken[2]
            if not fields:
                continue  # deleted while it waited: RQ skips it likewise
            job = job_cls(job_id, connection=connection, serializer=serializer)
            try:
                job.restore(dict(zip(fields[::2], fields[1::2])))
            except NoSuchJobError:
                continue  # a hash without the job's data: RQ skips it likewise
            queue = cls.from_queue_key(queue_key, connection=connection, job_class=job_cls,
                                       serializer=serializer, death_penalty_class=death_penalty_class)
            return job, queue


TAKEN_MARGIN = 60
"""As RQ's own started entries: due a minute after the job's timeout."""


def _take_args(queue_keys: list[str], prefix: str) -> list:
    """ARGV of ``TAKE_NEXT_JOB``: the job key prefix, now, the default timeout, the margin,
    the entry's marker, then each queue's started registry in the order of ``queue_keys``."""
    registries = [StartedJobRegistry.key_template.format(key.removeprefix(Queue.redis_queue_namespace_prefix))
                  for key in queue_keys]
    return [prefix, time.time(), defaults.JOB_TIMEOUT, TAKEN_MARGIN, TAKEN, *registries]


def _take_with_pending_finish(connection, queue_keys: list[str], prefix: str):
    """The take script, after the previous job's finish when one waits to be sent
    (``FinishWithNextTake``): both in one MULTI/EXEC, one round trip. The finish is
    forgotten only once Redis answered: after a lost connection RQ's dequeue tries again,
    and the finish goes with the next attempt."""
    args = _take_args(queue_keys, prefix)
    pending = PENDING_FINISH.get(connection)
    if pending is None:
        return _TAKE(keys=queue_keys, args=args, client=connection)
    build, settle = pending
    with connection.pipeline() as pipeline:
        build(pipeline)
        pipeline.evalsha(_TAKE.sha, len(queue_keys), *queue_keys, *args)
        *finished, taken = pipeline.execute(raise_on_error=False)
    PENDING_FINISH.pop(connection, None)
    settle(finished)
    if isinstance(taken, NoScriptError):  # Redis restarted since the script was loaded
        return _TAKE(keys=queue_keys, args=args, client=connection)
    if isinstance(taken, Exception):
        raise taken
    return taken


def _send_now(connection, build, settle) -> None:
    with connection.pipeline() as pipeline:
        build(pipeline)
        answers = pipeline.execute()
    settle(answers)


def _send_pending_finish(connection) -> None:
    pending = PENDING_FINISH.get(connection)
    if pending is not None:
        _send_now(connection, *pending)
        PENDING_FINISH.pop(connection, None)


PENDING_FINISH: "WeakKeyDictionary[Any, tuple[Callable[[Any], None], Callable[[list], None]]]" = WeakKeyDictionary()
"""Per worker connection: what queues the last job's finish on a pipeline, not yet sent,
and what to do with the answers."""


MARK_FINISHED = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'status', ARGV[1], 'ended_at', ARGV[2]) end
"""
"""The job's two changed fields, unless its hash was deleted while it ran (a STOP or a
cancellation removes a pending reminder by its id): no stub hash of two fields is left,
which RQ's readers would take for a corrupt job."""


def _plain(job) -> bool:
    """A job as the relay enqueues it: no callback to run after it, no repeat to schedule."""
    return not job._success_callback_name and not job._failure_callback_name and not job.repeats_left


class LeanBookkeeping:
    queue_class = TakeAndReadQueue

    def __init__(self, queues, *args, **kwargs):
        # RQ wants the worker's queues of its queue class: plain ones (the CLI's, tests')
        # are named instead, and RQ makes them.
        queues = [queues] if isinstance(queues, (str, Queue)) else queues
        super().__init__([q.name if type(q) is Queue else q for q in queues], *args, **kwargs)

    def handle_execution_ended(self, job, queue, heartbeat_ttl):
        if not _plain(job):
            return super().handle_execution_ended(job, queue, heartbeat_ttl)
        job.ended_at = now()

    def handle_job_success(self, job, queue, started_job_registry, execution):
        if not _plain(job):
            return super().handle_job_success(job, queue, started_job_registry, execution)
        self._send_finish(lambda pipeline: self._queue_finish(pipeline, job, execution),  # one MULTI/EXEC
                          lambda answers: self._settle_finish(answers, job, queue))

    def _send_finish(self, build, settle):
        _send_now(self.connection, build, settle)

    def _settle_finish(self, answers: list, job, queue) -> None:
        """After the finish committed: the dependents it counted, released as RQ releases them."""
        failed = [answer for answer in answers if isinstance(answer, Exception)]
        if failed:  # sent with the next take (raise_on_error=False): that job is already popped
            log.error("finishing job %s failed: %s", job.id, type(failed[0]).__name__)
            return
        if answers[-1]:
            queue.enqueue_ready_jobs_by_queue(queue.move_dependents_to_ready(job))
        release_slot(job)

    def _queue_finish(self, pipeline, job, execution) -> None:
        self.increment_successful_job_count(pipeline=pipeline)
        self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
        result_ttl = job.get_result_ttl(self.default_result_ttl)
        job._status = JobStatus.FINISHED
        if result_ttl != 0:
            pipeline.eval(MARK_FINISHED, 1, job.key, JobStatus.FINISHED.value, utcformat(job.ended_at))
            Result.create(job, Result.Type.SUCCESSFUL, return_value=job._result, ttl=result_ttl,
                          worker_name=self.name, pipeline=pipeline, execution_id=execution.id,
                          execution_started_at=execution.created_at, execution_ended_at=job.ended_at)
            job.finished_job_registry.add(job, result_ttl, pipeline)
        job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
        self.cleanup_execution(job, pipeline=pipeline, execution=execution)
        # "idle" here, not in a round trip of its own after the job (ThrottledHeartbeat
        # then skips RQ's own write of the same state).
        self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
        pipeline.scard(job.dependents_key)


class FinishWithNextTake:
    """For ``SimpleWorker``: a job's finish transaction is not sent on its own but with the
    take of the next job, in the same MULTI/EXEC (one round trip a job fewer). The worker
    goes straight from one to the other, and before it blocks on empty queues the take has
    sent it; one left when the worker is suspended or stops is sent then. A worker that
    dies between the two leaves its last job "started", which the abandoned-job recovery
    requeues, as it requeues a job whose worker died just before RQ's own finish: the
    relay's jobs are safe to run twice (worker/idempotency.py)."""

    def _send_finish(self, build, settle):
        if not issubclass(self.queue_class, TakeAndReadQueue):  # `rq worker --queue-class`: no take to go with
            return super()._send_finish(build, settle)
        _send_pending_finish(self.connection)  # another worker's on the same client (tests), never lost
        PENDING_FINISH[self.connection] = (build, settle)

    def set_state(self, state, pipeline=None):
        if state == WorkerStatus.SUSPENDED:  # `rq suspend`: no take follows until `rq resume`
            _send_pending_finish(self.connection)
        elif state == WorkerStatus.IDLE and pipeline is None and self.connection in PENDING_FINISH:
            # SimpleWorker's "idle" right after the job: the held finish writes it (_queue_finish),
            # so a round trip of its own would say it twice.
            self._state = state
            return
        super().set_state(state, pipeline)

    def teardown(self):
        try:
            _send_pending_finish(self.connection)
        except RedisError as error:
            log.error("finishing the last job failed: %s", type(error).__name__)
        super().teardown()


class OneStartTransaction:
    """For ``SimpleWorker``: the job runs right after ``prepare_execution`` in the same
    process, so RQ's second start transaction (``prepare_job_execution``) joins the first,
    sent as one script (worker/script_transaction.py)."""

    _started_job: str | None = None

    def prepare_execution(self, job):
        with self.connection.pipeline() as pipeline:
            heartbeat_ttl = self.get_heartbeat_ttl(job)
            execution = Execution.create(job, heartbeat_ttl, pipeline=pipeline, worker_name=self.name)
            self.executions[execution.id] = execution
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            self.heartbeat(heartbeat_ttl, pipeline=pipeline)
            job.heartbeat(now(), heartbeat_ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            pipeline.zrem(StartedJobRegistry.key_template.format(job.origin), f"{job.id}:{TAKEN}")
            pipeline.persist(job.key)
            send_as_one_script(self.connection, pipeline)
        self._started_job = job.id
        return execution

    def prepare_job_execution(self, job, remove_from_intermediate_queue=False):
        started, self._started_job = self._started_job, None
        if started != job.id or remove_from_intermediate_queue:
            return super().prepare_job_execution(job, remove_from_intermediate_queue)
        self.procline(f"Processing {job.func_name} from {job.origin} since {time.time()}")
