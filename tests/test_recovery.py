"""Jobs abandoned by a dead worker go back on their queue (worker/recovery.py)."""

import time

from rq import Queue
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from shared import keys
from shared import settings as defaults
from worker.recovery import recover_abandoned
from worker.rq_worker import RelaySimpleWorker

QUEUE = defaults.SMS_QUEUE


def _abandon(conn, job):
    """What a SIGKILL mid-job leaves: the job started by a worker that never finishes it,
    then RQ's deadline for it passing."""
    queue = Queue(QUEUE, connection=conn)
    worker = RelaySimpleWorker([queue], connection=conn)
    worker.register_birth()
    dequeued, _ = Queue.dequeue_any([queue], None, connection=conn)
    assert dequeued.id == job.id
    worker.prepare_execution(dequeued)
    worker.prepare_job_execution(dequeued)
    assert dequeued.get_status() == JobStatus.STARTED
    later = time.time() + defaults.JOB_TIMEOUT + 61
    StartedJobRegistry(QUEUE, connection=conn).cleanup(timestamp=later)


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
