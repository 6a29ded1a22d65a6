"""Jobs abandoned by a dead worker go back on their queue (worker/recovery.py)."""

import time

from rq import Queue
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from shared import keys
from shared import defaults
from worker.recovery import recover_abandoned
from worker.rq_worker import RelayForkWorker, RelaySimpleWorker

QUEUE = defaults.SMS_QUEUE


def _kill_mid_job(conn, job, started=True):
    """What a SIGKILL leaves: the job registered by a worker that never finishes it (and,
    with ``started=False``, killed before RQ marked it started: a forking worker's parent
    registers the job, its work horse marks it started; the relay's simple worker does both
    in one transaction); then its deadline passes."""
    queue = Queue(QUEUE, connection=conn)
    worker = (RelaySimpleWorker if started else RelayForkWorker)([queue], connection=conn)
    worker.register_birth()
    dequeued, _ = Queue.dequeue_any([queue], None, connection=conn)
    assert dequeued.id == job.id
    worker.prepare_execution(dequeued)
    if started:
        worker.prepare_job_execution(dequeued)
        assert dequeued.get_status() == JobStatus.STARTED
    registry = StartedJobRegistry(QUEUE, connection=conn)
    [entry] = [e for e in conn.zrange(registry.key, 0, -1) if e.decode().startswith(job.id)]
    conn.zadd(registry.key, {entry: time.time() - 1}, xx=True)  # the deadline has passed


def _abandon(conn, job):
    """As above, then RQ's own cleanup (a worker's maintenance) fails it as abandoned."""
    _kill_mid_job(conn, job)
    StartedJobRegistry(QUEUE, connection=conn).cleanup()


def test_an_abandoned_job_is_requeued_and_then_runs(conn):
    job = Queue(QUEUE, connection=conn).enqueue("builtins.len", "abc", job_timeout=defaults.JOB_TIMEOUT,
                                               failure_ttl=defaults.FAILED_JOB_TTL)
    _abandon(conn, job)
    assert job.id in FailedJobRegistry(QUEUE, connection=conn)

    assert recover_abandoned(conn) == [job.id]

    assert job.get_status() == JobStatus.QUEUED and job.id not in FailedJobRegistry(QUEUE, connection=conn)
    job.refresh()
    assert job.meta["abandoned"] == 1
    RelaySimpleWorker([Queue(QUEUE, connection=conn)], connection=conn).work(burst=True)
    assert job.get_status() == JobStatus.FINISHED and job.return_value() == 3


def test_a_job_that_keeps_killing_workers_stays_failed(conn):
    job = Queue(QUEUE, connection=conn).enqueue("builtins.len", "abc", job_timeout=defaults.JOB_TIMEOUT,
                                               failure_ttl=defaults.FAILED_JOB_TTL)
    for _ in range(defaults.MAX_ABANDONED_REQUEUES):
        _abandon(conn, job)
        assert recover_abandoned(conn) == [job.id]
    _abandon(conn, job)
    assert recover_abandoned(conn) == []
    assert job.id in FailedJobRegistry(QUEUE, connection=conn)


def test_a_job_that_failed_by_itself_is_not_requeued(conn):
    job = Queue(QUEUE, connection=conn).enqueue("builtins.len", 5)  # TypeError
    RelaySimpleWorker([Queue(QUEUE, connection=conn)], connection=conn).work(burst=True)
    assert job.get_status() == JobStatus.FAILED
    assert recover_abandoned(conn) == []


def test_later_passes_only_look_at_recent_failures(conn):
    recover_abandoned(conn)
    first = float(conn.get(keys.RECOVERY_PASS))
    job = Queue(QUEUE, connection=conn).enqueue("builtins.len", "abc", job_timeout=defaults.JOB_TIMEOUT,
                                               failure_ttl=defaults.FAILED_JOB_TTL)
    _abandon(conn, job)
    # Pretend this failure is older than the previous pass (minus the overlap): skipped.
    conn.set(keys.RECOVERY_PASS, first + 3600)
    assert recover_abandoned(conn) == []
    conn.set(keys.RECOVERY_PASS, first - 3600)
    assert recover_abandoned(conn) == [job.id]


def _job(conn, *args):
    return Queue(QUEUE, connection=conn).enqueue("builtins.len", *args, job_timeout=defaults.JOB_TIMEOUT,
                                                 failure_ttl=defaults.FAILED_JOB_TTL)


def test_an_expired_started_job_is_requeued_without_being_failed_first(conn):
    job = _job(conn, "abcd")
    _kill_mid_job(conn, job)
    assert recover_abandoned(conn) == [job.id]
    assert job.get_status() == JobStatus.QUEUED
    assert conn.zcard(StartedJobRegistry(QUEUE, connection=conn).key) == 0
    assert job.id not in FailedJobRegistry(QUEUE, connection=conn)
    RelaySimpleWorker([Queue(QUEUE, connection=conn)], connection=conn).work(burst=True)
    assert job.return_value() == 4


def test_a_job_killed_before_it_was_marked_started_is_requeued_too(conn):
    job = _job(conn, "ab")
    _kill_mid_job(conn, job, started=False)
    assert job.get_status() == JobStatus.QUEUED  # registered as running, status never changed
    assert recover_abandoned(conn) == [job.id]
    assert Queue(QUEUE, connection=conn).job_ids == [job.id]


def test_leftover_entries_of_finished_jobs_are_dropped(conn):
    job = _job(conn, "abc")
    RelaySimpleWorker([Queue(QUEUE, connection=conn)], connection=conn).work(burst=True)
    registry = StartedJobRegistry(QUEUE, connection=conn)
    conn.zadd(registry.key, {f"{job.id}:stale-execution": time.time() - 1})
    assert recover_abandoned(conn) == []
    assert conn.zcard(registry.key) == 0 and job.get_status() == JobStatus.FINISHED


def test_a_job_that_keeps_dying_is_failed_with_the_reason(conn):
    job = _job(conn, "abc")
    for _ in range(defaults.MAX_ABANDONED_REQUEUES):
        _kill_mid_job(conn, job)
        assert recover_abandoned(conn) == [job.id]
    _kill_mid_job(conn, job)
    assert recover_abandoned(conn) == []
    assert job.id in FailedJobRegistry(QUEUE, connection=conn)
    assert "died 4 times" in job.latest_result().exc_string
    assert recover_abandoned(conn) == []  # and it stays there


def test_one_unreadable_job_does_not_stop_the_pass(conn):
    broken = _job(conn, "x")
    _kill_mid_job(conn, broken)
    conn.hset(broken.key, "status", "no-such-status")  # unreadable: RQ cannot load it
    good = _job(conn, "abc")
    _kill_mid_job(conn, good)
    assert recover_abandoned(conn) == [good.id]


def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_requeued(conn):
    from worker.rq_bookkeeping import TakeAndReadQueue

    queues = [TakeAndReadQueue(name, connection=conn) for name in (defaults.EVENTS_QUEUE, defaults.SMS_QUEUE)]
    job = queues[1].enqueue("builtins.len", "abc", job_timeout=30)
    taken, _ = TakeAndReadQueue.dequeue_any(queues, None, connection=conn)  # ... and the worker dies here
    assert taken.id == job.id and queues[1].count == 0
    registry = StartedJobRegistry(defaults.SMS_QUEUE, connection=conn)
    [(entry, due)] = conn.zrange(registry.key, 0, -1, withscores=True)
    assert entry == f"{job.id}:taken".encode() and 85 <= due - time.time() <= 95  # its timeout + 60 s
    assert recover_abandoned(conn) == []  # not due yet
    conn.zadd(registry.key, {entry: 0}, xx=True)  # as if the 90 s had passed
    assert recover_abandoned(conn) == [job.id]
    assert queues[1].get_job_ids() == [job.id] and job.get_status(refresh=True) == JobStatus.QUEUED
    RelaySimpleWorker(queues, connection=conn).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FINISHED and not conn.zcard(registry.key)
